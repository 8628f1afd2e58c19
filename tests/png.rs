//! PNG pictures into arrays (`autoencoder::data::png`) against small PNGs made here with the `png` crate's
//! encoder (or by hand, for what it cannot write), every pixel kind, both alpha settings and the errors;
//! patches and stitching (`data::patches`); colour conversions (`data::colour`); and colour pictures written by
//! `autoencoder::image` and read back.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use autoencoder::data::colour::{grey_to_rgb, rgb_to_grey, rgb_to_ycbcr, ycbcr_to_rgb, GREY_WEIGHTS};
use autoencoder::data::patches::{covering_patch_origins, cut_patches, patch_origins, patches, stitch_patches};
use autoencoder::data::png::{decode_png, png_files, read_png, read_png_folder, Alpha, ImageFolder};
use autoencoder::image::{write_grid, write_image, GridLayout, GRID_BACKGROUND};
use autoencoder::ndarray::{array, Array2, Array3};
use autoencoder::Error;
use common::scratch;
use png::{BitDepth, ColorType};

// ---------------------------------------------------------------------------------------------------------------
// Making PNGs

/// A PNG of `width × height` pixels of `colour` and `depth` holding the (packed, big-endian) rows `data`;
/// `configure` sets a palette, a tRNS chunk, ... on the encoder.
fn encode(
    (width, height): (u32, u32),
    colour: ColorType,
    depth: BitDepth,
    data: &[u8],
    configure: impl FnOnce(&mut png::Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(colour);
    encoder.set_depth(depth);
    configure(&mut encoder);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
    bytes
}

/// An 8-bit PNG with nothing else to set.
fn encode8(size: (u32, u32), colour: ColorType, data: &[u8]) -> Vec<u8> {
    encode(size, colour, BitDepth::Eight, data, |_| {})
}

/// 16-bit samples as the big-endian bytes PNG stores.
fn be16(samples: &[u16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_be_bytes()).collect()
}

/// One PNG chunk: length, type, data, CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut bytes = (data.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(kind);
    bytes.extend_from_slice(data);
    bytes.extend_from_slice(&crc.sum().to_be_bytes());
    bytes
}

/// A PNG put together by hand: the signature, an IHDR of these fields, one IDAT of the zlib-compressed `raw`
/// (filtered rows, each starting with its filter byte), an IEND.
fn hand_made_png(width: u32, height: u32, depth: u8, colour_code: u8, interlaced: bool, raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour_code, 0, 0, u8::from(interlaced)]);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(raw).unwrap();
    let mut bytes = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    bytes.extend(chunk(b"IHDR", &ihdr));
    bytes.extend(chunk(b"IDAT", &zlib.finish().unwrap()));
    bytes.extend(chunk(b"IEND", &[]));
    bytes
}

/// The Adam7 passes: first column, first row, column step, row step.
const ADAM7: [(usize, usize, usize, usize); 7] = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
];

/// The filtered (filter 0) Adam7 data of an 8-bit image of `channels` samples per pixel.
fn adam7_rows(pixels: &[u8], width: usize, height: usize, channels: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in ADAM7 {
        if x0 >= width {
            continue; // an empty pass has no rows at all
        }
        for y in (y0..height).step_by(dy) {
            raw.push(0);
            for x in (x0..width).step_by(dx) {
                let at = (y * width + x) * channels;
                raw.extend_from_slice(&pixels[at..at + channels]);
            }
        }
    }
    raw
}

/// Checks `image` against its expected shape and values (to 1e-6).
#[track_caller]
fn assert_image(image: &Array3<f32>, shape: (usize, usize, usize), expected: &[f32]) {
    assert_eq!(image.dim(), shape);
    let found: Vec<f32> = image.iter().copied().collect();
    assert_eq!(found.len(), expected.len());
    for (i, (a, b)) in found.iter().zip(expected).enumerate() {
        assert!((a - b).abs() < 1e-6, "value {i}: {a} != {b}\n{found:?}\n{expected:?}");
    }
}

fn by255(values: &[u8]) -> Vec<f32> {
    values.iter().map(|&v| f32::from(v) / 255.0).collect()
}

fn by65535(values: &[u16]) -> Vec<f32> {
    values.iter().map(|&v| f32::from(v) / 65535.0).collect()
}

/// Every `k`-th value of groups of `group` values, for the channels kept when alpha is dropped.
fn without_alpha<T: Copy>(values: &[T], group: usize) -> Vec<T> {
    values
        .chunks(group)
        .flat_map(|pixel| pixel[..group - 1].to_vec())
        .collect()
}

fn decode(bytes: &[u8], alpha: Alpha) -> Array3<f32> {
    decode_png(bytes, alpha).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn assert_png_error(error: Error, needle: &str) {
    match &error {
        Error::Png { .. } => assert!(error.to_string().contains(needle), "{needle:?} not in {error}"),
        other => panic!("expected Error::Png containing {needle:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Pixel kinds

#[test]
fn grey_8_bit() {
    let pixels = [0, 1, 2, 127, 128, 255];
    let bytes = encode8((3, 2), ColorType::Grayscale, &pixels);
    for alpha in [Alpha::Drop, Alpha::Keep] {
        assert_image(&decode(&bytes, alpha), (2, 3, 1), &by255(&pixels));
    }
}

#[test]
fn grey_16_bit_is_divided_by_65535() {
    let samples = [0, 1, 256, 65535, 32768, 0x1234];
    let bytes = encode((2, 3), ColorType::Grayscale, BitDepth::Sixteen, &be16(&samples), |_| {});
    for alpha in [Alpha::Drop, Alpha::Keep] {
        assert_image(&decode(&bytes, alpha), (3, 2, 1), &by65535(&samples));
    }
}

#[test]
fn grey_with_alpha_keeps_or_drops_its_alpha() {
    let pixels = [10, 255, 20, 0, 30, 128, 40, 1];
    let bytes = encode8((2, 2), ColorType::GrayscaleAlpha, &pixels);
    assert_image(&decode(&bytes, Alpha::Keep), (2, 2, 2), &by255(&pixels));
    assert_image(
        &decode(&bytes, Alpha::Drop),
        (2, 2, 1),
        &by255(&without_alpha(&pixels, 2)),
    );

    let samples = [1000, 65535, 0, 7, 65535, 0, 300, 40000];
    let bytes = encode(
        (4, 1),
        ColorType::GrayscaleAlpha,
        BitDepth::Sixteen,
        &be16(&samples),
        |_| {},
    );
    assert_image(&decode(&bytes, Alpha::Keep), (1, 4, 2), &by65535(&samples));
    assert_image(
        &decode(&bytes, Alpha::Drop),
        (1, 4, 1),
        &by65535(&without_alpha(&samples, 2)),
    );
}

#[test]
fn rgb_8_and_16_bit() {
    let pixels = [255, 0, 0, 0, 255, 0, 0, 0, 255, 12, 34, 56];
    let bytes = encode8((2, 2), ColorType::Rgb, &pixels);
    for alpha in [Alpha::Drop, Alpha::Keep] {
        assert_image(&decode(&bytes, alpha), (2, 2, 3), &by255(&pixels));
    }

    let samples = [65535, 0, 1, 2, 3, 4];
    let bytes = encode((1, 2), ColorType::Rgb, BitDepth::Sixteen, &be16(&samples), |_| {});
    for alpha in [Alpha::Drop, Alpha::Keep] {
        assert_image(&decode(&bytes, alpha), (2, 1, 3), &by65535(&samples));
    }
}

#[test]
fn rgba_8_and_16_bit() {
    let pixels = [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0];
    let bytes = encode8((3, 1), ColorType::Rgba, &pixels);
    assert_image(&decode(&bytes, Alpha::Keep), (1, 3, 4), &by255(&pixels));
    assert_image(
        &decode(&bytes, Alpha::Drop),
        (1, 3, 3),
        &by255(&without_alpha(&pixels, 4)),
    );

    let samples = [1, 2, 3, 4, 65535, 65534, 65533, 0];
    let bytes = encode((1, 2), ColorType::Rgba, BitDepth::Sixteen, &be16(&samples), |_| {});
    assert_image(&decode(&bytes, Alpha::Keep), (2, 1, 4), &by65535(&samples));
    assert_image(
        &decode(&bytes, Alpha::Drop),
        (2, 1, 3),
        &by65535(&without_alpha(&samples, 4)),
    );
}

const PALETTE: [u8; 9] = [255, 0, 0, 0, 128, 0, 10, 20, 30];

#[test]
fn a_palette_is_expanded_to_rgb() {
    let indices = [0, 1, 2, 2, 1, 0];
    // An indexed picture without a PLTE chunk (which the encoder refuses to write) has no colours.
    let bytes = hand_made_png(3, 2, 8, 3, false, &[0, 0, 1, 2, 0, 2, 1, 0]);
    let bytes_with_palette = encode((3, 2), ColorType::Indexed, BitDepth::Eight, &indices, |e| {
        e.set_palette(&PALETTE[..])
    });
    assert!(
        decode_png(&bytes, Alpha::Drop).is_err(),
        "a palette image without PLTE must fail"
    );
    let expected: Vec<u8> = indices
        .iter()
        .map(|&i| usize::from(i))
        .flat_map(|i| PALETTE[3 * i..3 * i + 3].to_vec())
        .collect();
    for alpha in [Alpha::Drop, Alpha::Keep] {
        assert_image(&decode(&bytes_with_palette, alpha), (2, 3, 3), &by255(&expected));
    }

    // 2-bit indices, packed four to a byte: 0 1 2 | 2 1 0, each row padded to a whole byte.
    let packed = [0b00_01_10_00, 0b10_01_00_00];
    let bytes = encode((3, 2), ColorType::Indexed, BitDepth::Two, &packed, |e| {
        e.set_palette(&PALETTE[..])
    });
    assert_image(&decode(&bytes, Alpha::Keep), (2, 3, 3), &by255(&expected));
}

#[test]
fn a_palette_with_trns_gives_alpha() {
    let indices = [0, 1, 2, 1];
    let bytes = encode((2, 2), ColorType::Indexed, BitDepth::Eight, &indices, |e| {
        e.set_palette(&PALETTE[..]);
        e.set_trns(&[0_u8, 128][..]); // entry 2 has no alpha: opaque
    });
    let alphas = [0, 128, 255];
    let rgba: Vec<u8> = indices
        .iter()
        .map(|&i| usize::from(i))
        .flat_map(|i| [PALETTE[3 * i], PALETTE[3 * i + 1], PALETTE[3 * i + 2], alphas[i]])
        .collect();
    assert_image(&decode(&bytes, Alpha::Keep), (2, 2, 4), &by255(&rgba));
    assert_image(
        &decode(&bytes, Alpha::Drop),
        (2, 2, 3),
        &by255(&without_alpha(&rgba, 4)),
    );
}

#[test]
fn grey_with_trns_gives_alpha() {
    let pixels = [0, 50, 100, 50];
    let bytes = encode((4, 1), ColorType::Grayscale, BitDepth::Eight, &pixels, |e| {
        e.set_trns(&[0_u8, 50][..]); // grey 50 is transparent
    });
    assert_image(
        &decode(&bytes, Alpha::Keep),
        (1, 4, 2),
        &by255(&[0, 255, 50, 0, 100, 255, 50, 0]),
    );
    assert_image(&decode(&bytes, Alpha::Drop), (1, 4, 1), &by255(&pixels));
}

#[test]
fn grey_of_1_2_and_4_bits_is_scaled_to_the_full_range() {
    // 1 bit, 5 wide: 1 0 1 1 0 and 0 1 0 0 1, padded to a byte each.
    let bytes = encode(
        (5, 2),
        ColorType::Grayscale,
        BitDepth::One,
        &[0b1011_0000, 0b0100_1000],
        |_| {},
    );
    let ones = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    for alpha in [Alpha::Drop, Alpha::Keep] {
        assert_image(&decode(&bytes, alpha), (2, 5, 1), &ones);
    }

    // 2 bits, 3 wide: 0 1 2 | 3 2 1 → 0, 85, 170, 255.
    let bytes = encode(
        (3, 2),
        ColorType::Grayscale,
        BitDepth::Two,
        &[0b00_01_10_00, 0b11_10_01_00],
        |_| {},
    );
    assert_image(
        &decode(&bytes, Alpha::Keep),
        (2, 3, 1),
        &by255(&[0, 85, 170, 255, 170, 85]),
    );

    // 4 bits, 3 wide: 0 15 7 | 1 8 14 → times 17.
    let bytes = encode(
        (3, 2),
        ColorType::Grayscale,
        BitDepth::Four,
        &[0x0F, 0x70, 0x18, 0xE0],
        |_| {},
    );
    assert_image(
        &decode(&bytes, Alpha::Drop),
        (2, 3, 1),
        &by255(&[0, 255, 119, 17, 136, 238]),
    );
}

#[test]
fn an_interlaced_png_reads_as_the_same_pixels() {
    // 9 × 10 so that every Adam7 pass, and a partial one at the edges, has pixels.
    let (width, height) = (9, 10);
    let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i * 7 % 256) as u8).collect();
    let interlaced = hand_made_png(
        width as u32,
        height as u32,
        8,
        2,
        true,
        &adam7_rows(&pixels, width, height, 3),
    );
    let plain = encode8((width as u32, height as u32), ColorType::Rgb, &pixels);
    let expected = by255(&pixels);
    assert_image(&decode(&interlaced, Alpha::Drop), (height, width, 3), &expected);
    assert_image(&decode(&plain, Alpha::Drop), (height, width, 3), &expected);

    // A picture smaller than one Adam7 block: 3 × 2 grey (passes 2 and 3 are empty).
    let small = [1, 2, 3, 4, 5, 6];
    let bytes = hand_made_png(3, 2, 8, 0, true, &adam7_rows(&small, 3, 2, 1));
    assert_image(&decode(&bytes, Alpha::Keep), (2, 3, 1), &by255(&small));
}

/// A 2 × 1 grey animation of two frames, 10 20 then 30 40.
fn animated_png() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, 2, 1);
    encoder.set_color(ColorType::Grayscale);
    encoder.set_depth(BitDepth::Eight);
    encoder.set_animated(2, 0).unwrap();
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&[10, 20]).unwrap();
    writer.write_image_data(&[30, 40]).unwrap();
    writer.finish().unwrap();
    bytes
}

#[test]
fn an_animated_png_reads_its_first_frame() {
    let bytes = animated_png();
    assert!(bytes.windows(4).any(|w| w == b"fdAT"), "not animated");
    assert_image(&decode(&bytes, Alpha::Drop), (1, 2, 1), &by255(&[10, 20]));
}

#[test]
fn the_bundled_coffee_photo_is_600_wide_and_400_tall() {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos/coffee.png");
    let coffee = read_png(&photo, Alpha::Keep).unwrap();
    assert_eq!(coffee.dim(), (400, 600, 3));
    assert!(coffee.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(coffee.iter().any(|&v| v > 0.5) && coffee.iter().any(|&v| v < 0.5));
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

fn small_rgb_png() -> Vec<u8> {
    let pixels: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 11) as u8).collect();
    encode8((4, 3), ColorType::Rgb, &pixels)
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let dir = scratch("missing");
    let path = dir.join("nowhere.png");
    match read_png(&path, Alpha::Drop) {
        Err(error @ Error::Io { .. }) => assert!(error.to_string().contains("nowhere.png"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_file_is_an_error_naming_it() {
    let dir = scratch("empty");
    let path = dir.join("empty.png");
    fs::write(&path, b"").unwrap();
    let error = read_png(&path, Alpha::Drop).unwrap_err();
    assert!(error.to_string().contains("empty.png"), "{error}");
    assert_png_error(error, "the input is empty");
    assert_png_error(decode_png(&[], Alpha::Keep).unwrap_err(), "empty");
}

#[test]
fn input_that_is_not_a_png_says_what_it_is() {
    assert_png_error(
        decode_png(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16], Alpha::Drop).unwrap_err(),
        "a JPEG image",
    );
    let page = b"<!DOCTYPE html><html><title>404</title></html>";
    assert_png_error(decode_png(page, Alpha::Drop).unwrap_err(), "an HTML page");
    let error = decode_png(b"hello, world", Alpha::Drop).unwrap_err();
    assert_png_error(error, "not a PNG: it starts with 68 65 6c 6c 6f 2c 20 77");
    assert_png_error(
        decode_png(&[0x89, b'P', b'N'], Alpha::Drop).unwrap_err(),
        "cut short: it ends after 3 of the 8 bytes",
    );

    let dir = scratch("not-png");
    let path = dir.join("photo.png");
    fs::write(&path, b"GIF89a\x01\x00\x01\x00").unwrap();
    let error = read_png(&path, Alpha::Drop).unwrap_err();
    assert!(error.to_string().starts_with("malformed PNG in "), "{error}");
    assert!(error.to_string().contains("photo.png"), "{error}");
    assert_png_error(error, "a GIF image");
}

#[test]
fn a_png_cut_at_any_length_is_an_error() {
    for bytes in [
        small_rgb_png(),
        hand_made_png(3, 2, 8, 0, true, &adam7_rows(&[1, 2, 3, 4, 5, 6], 3, 2, 1)),
    ] {
        assert!(decode_png(&bytes, Alpha::Drop).is_ok());
        // Without the IEND chunk (its last 12 bytes) the pixels may all be there: still accepted or refused,
        // never a panic; shorter than that, the pixels are incomplete.
        for cut in 0..bytes.len() {
            let result = decode_png(&bytes[..cut], Alpha::Keep);
            if cut < bytes.len() - 12 {
                let error = result.expect_err(&format!("cut at {cut} of {}", bytes.len()));
                assert!(matches!(error, Error::Png { path: None, .. }), "{error:?}");
                assert!(!error.to_string().is_empty());
            }
        }
    }
    let bytes = small_rgb_png();
    let error = decode_png(&bytes[..bytes.len() - 20], Alpha::Drop).unwrap_err();
    assert!(error.to_string().contains("cut short"), "{error}");
}

/// Where the data of the first chunk of `kind` starts.
fn chunk_data_start(bytes: &[u8], kind: &[u8; 4]) -> usize {
    bytes.windows(4).position(|w| w == kind).unwrap() + 4
}

#[test]
fn a_corrupt_byte_is_an_error() {
    let bytes = small_rgb_png();
    let at = chunk_data_start(&bytes, b"IDAT") + 3;
    let mut corrupt = bytes.clone();
    corrupt[at] ^= 0x55;
    assert_png_error(decode_png(&corrupt, Alpha::Drop).unwrap_err(), "CRC");

    // Every single flipped byte after the signature: an error or a picture of the same size, never a panic.
    for at in 8..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0xFF;
        if let Ok(image) = decode_png(&corrupt, Alpha::Keep) {
            assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}

#[test]
fn a_picture_without_pixels_is_an_error() {
    for (width, height) in [(0, 3), (3, 0)] {
        let bytes = hand_made_png(width, height, 8, 0, false, &[]);
        let error = decode_png(&bytes, Alpha::Drop).unwrap_err();
        assert!(matches!(error, Error::Png { .. }), "{error:?}");
    }
}

#[test]
fn a_picture_too_large_is_refused_before_it_is_allocated() {
    // 60000 × 60000 RGBA claims 14 GB of values in 60 bytes of data.
    let bytes = hand_made_png(60_000, 60_000, 8, 6, false, &[0; 100]);
    assert_png_error(decode_png(&bytes, Alpha::Drop).unwrap_err(), "too large");
    // The largest size PNG allows.
    let bytes = hand_made_png(0x7FFF_FFFF, 0x7FFF_FFFF, 16, 6, false, &[0; 100]);
    assert!(matches!(decode_png(&bytes, Alpha::Keep), Err(Error::Png { .. })));
}

// ---------------------------------------------------------------------------------------------------------------
// Folders

fn write_grey(path: &Path, (width, height): (u32, u32), first: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height).map(|i| first.wrapping_add(i as u8)).collect();
    fs::write(path, encode8((width, height), ColorType::Grayscale, &pixels)).unwrap();
    pixels
}

#[test]
fn a_folder_reads_its_pngs_sorted_by_name_and_ignores_other_files() {
    let dir = scratch("folder");
    let c = write_grey(&dir.join("c.png"), (3, 2), 100);
    let a = write_grey(&dir.join("a.png"), (3, 2), 0);
    let b = write_grey(&dir.join("b.PNG"), (3, 2), 50);
    fs::write(dir.join("notes.txt"), "not a picture").unwrap();
    fs::write(dir.join("image.png.bak"), "not a picture either").unwrap();
    fs::create_dir(dir.join("sub.png")).unwrap(); // a folder, not a file

    let files = png_files(&dir).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["a.png", "b.PNG", "c.png"]);

    let ImageFolder { images, shape, names } = read_png_folder(&dir, Alpha::Drop).unwrap();
    assert_eq!(names, ["a.png", "b.PNG", "c.png"]);
    assert_eq!(shape, (2, 3, 1));
    let expected: Vec<f32> = [a, b, c].concat().iter().map(|&v| f32::from(v) / 255.0).collect();
    assert_eq!(images, Array2::from_shape_vec((3, 6), expected).unwrap());
}

#[test]
fn rows_of_a_folder_are_in_hwc_order() {
    let dir = scratch("hwc");
    let pixels = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]; // 2 × 2 RGB
    fs::write(dir.join("x.png"), encode8((2, 2), ColorType::Rgb, &pixels)).unwrap();
    let folder = read_png_folder(&dir, Alpha::Keep).unwrap();
    assert_eq!(folder.shape, (2, 2, 3));
    assert_eq!(folder.images.row(0).to_vec(), by255(&pixels));
    assert_eq!(
        folder.images.row(0).to_vec(),
        read_png(dir.join("x.png"), Alpha::Keep)
            .unwrap()
            .into_raw_vec_and_offset()
            .0
    );
}

#[test]
fn pictures_of_different_shapes_in_a_folder_are_an_error_naming_the_file() {
    let dir = scratch("mixed");
    write_grey(&dir.join("a.png"), (3, 2), 0);
    write_grey(&dir.join("b.png"), (3, 2), 0);
    write_grey(&dir.join("c.png"), (2, 3), 0);
    write_grey(&dir.join("d.png"), (4, 4), 0);
    let error = read_png_folder(&dir, Alpha::Drop).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Dataset { .. }), "{error:?}");
    assert!(message.contains("c.png") && !message.contains("d.png"), "{message}");
    assert!(
        message.contains("3×2×1") && message.contains("2×3×1") && message.contains("a.png"),
        "{message}"
    );

    // Grey and RGB of the same size differ too.
    let dir2 = scratch("mixed-channels");
    write_grey(&dir2.join("a.png"), (2, 2), 0);
    fs::write(dir2.join("b.png"), encode8((2, 2), ColorType::Rgb, &[0; 12])).unwrap();
    let message = read_png_folder(&dir2, Alpha::Drop).unwrap_err().to_string();
    assert!(message.contains("b.png") && message.contains("2×2×3"), "{message}");
}

#[test]
fn an_empty_or_missing_folder_is_an_error_naming_it() {
    let dir = scratch("no-pngs");
    fs::write(dir.join("readme.txt"), "nothing here").unwrap();
    for error in [
        png_files(&dir).unwrap_err(),
        read_png_folder(&dir, Alpha::Drop).unwrap_err(),
    ] {
        assert!(matches!(error, Error::Dataset { .. }), "{error:?}");
        assert!(error.to_string().contains(dir.to_str().unwrap()), "{error}");
        assert!(error.to_string().contains("no PNG files"), "{error}");
    }
    let missing: PathBuf = dir.join("missing");
    let error = read_png_folder(&missing, Alpha::Drop).unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn a_broken_png_in_a_folder_is_an_error_naming_it() {
    let dir = scratch("broken");
    write_grey(&dir.join("a.png"), (2, 2), 0);
    fs::write(dir.join("b.png"), b"\x89PNG\r\n\x1a\n\x00").unwrap();
    let error = read_png_folder(&dir, Alpha::Drop).unwrap_err();
    assert!(
        matches!(&error, Error::Png { path: Some(p), .. } if p.ends_with("b.png")),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Patches

/// A 4 × 5 picture of 2 channels whose value at (y, x, k) is 100 y + 10 x + k.
fn numbered_image(height: usize, width: usize, channels: usize) -> Array3<f32> {
    Array3::from_shape_fn((height, width, channels), |(y, x, k)| (100 * y + 10 * x + k) as f32)
}

#[test]
fn patch_origins_step_by_the_stride_row_by_row() {
    assert_eq!(patch_origins(400, 600, 32, 16).unwrap().len(), 24 * 36);
    assert_eq!(patch_origins(4, 5, 2, 2).unwrap(), [(0, 0), (0, 2), (2, 0), (2, 2)]);
    assert_eq!(patch_origins(3, 3, 3, 1).unwrap(), [(0, 0)]);
    assert_eq!(patch_origins(2, 5, 2, 3).unwrap(), [(0, 0), (0, 3)]);
    let origins = patch_origins(28, 28, 7, 7).unwrap();
    assert_eq!(origins.len(), 16);
    assert_eq!(origins[4], (7, 0));
}

#[test]
fn covering_origins_add_a_last_row_and_column_at_the_edges() {
    // 4 × 5 with 2 × 2 patches 2 apart: x = 0, 2 leave column 4 uncovered, so x = 3 is added; y needs nothing.
    assert_eq!(
        covering_patch_origins(4, 5, 2, 2).unwrap(),
        [(0, 0), (0, 2), (0, 3), (2, 0), (2, 2), (2, 3)]
    );
    // Already covering: the same as patch_origins.
    assert_eq!(
        covering_patch_origins(4, 4, 2, 2).unwrap(),
        patch_origins(4, 4, 2, 2).unwrap()
    );
    // A stride larger than the patch: the edge patch is still added.
    assert_eq!(covering_patch_origins(2, 7, 2, 3).unwrap(), [(0, 0), (0, 3), (0, 5)]);

    let (height, width, size) = (400, 600, 48);
    let origins = covering_patch_origins(height, width, size, 40).unwrap();
    let mut covered = Array2::<u32>::zeros((height, width));
    for &(y, x) in &origins {
        assert!(y + size <= height && x + size <= width);
        covered
            .slice_mut(autoencoder::ndarray::s![y..y + size, x..x + size])
            .mapv_inplace(|n| n + 1);
    }
    assert!(covered.iter().all(|&n| n > 0));
    assert!(origins.contains(&(height - size, width - size)));
}

#[test]
fn bad_patch_grids_are_errors() {
    for (size, stride) in [(0, 1), (2, 0), (5, 1), (6, 2)] {
        assert!(
            matches!(patch_origins(5, 4, size, stride), Err(Error::InvalidArgument(_))),
            "{size} {stride}"
        );
        assert!(matches!(
            covering_patch_origins(5, 4, size, stride),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(patch_origins(5, 4, 4, 1).is_ok());
    // more patches than autoencoder::data::patches::MAX_PATCHES: an error, before any is made
    for (side, size) in [(100_000, 1), (usize::MAX, 1), (usize::MAX, usize::MAX / 2)] {
        let error = patch_origins(side, side, size, 1).unwrap_err();
        assert!(error.to_string().contains("MAX_PATCHES"), "{error}");
        assert!(covering_patch_origins(side, side, size, 1).is_err());
    }
    assert_eq!(patch_origins(4000, 4000, 1, 1).unwrap().len(), 4000 * 4000); // just under the limit
}

#[test]
fn cut_patches_are_hwc_rows() {
    let image = numbered_image(4, 5, 2);
    let rows = cut_patches(image.view(), 2, &[(1, 2), (0, 0)]).unwrap();
    assert_eq!(
        rows,
        array![
            [120.0, 121.0, 130.0, 131.0, 220.0, 221.0, 230.0, 231.0],
            [0.0, 1.0, 10.0, 11.0, 100.0, 101.0, 110.0, 111.0],
        ]
    );
    assert_eq!(cut_patches(image.view(), 2, &[]).unwrap().dim(), (0, 8));

    let all = patches(image.view(), 2, 1).unwrap();
    assert_eq!(all.dim(), (3 * 4, 8));
    assert_eq!(all.row(5), cut_patches(image.view(), 2, &[(1, 1)]).unwrap().row(0));

    // A transposed (non-standard layout) view cuts the same values as its copy.
    let transposed = image.view().permuted_axes([1, 0, 2]);
    let copy = transposed.to_owned();
    assert_eq!(patches(transposed, 3, 1).unwrap(), patches(copy.view(), 3, 1).unwrap());
}

#[test]
fn patches_leaving_the_picture_are_errors() {
    let image = numbered_image(4, 5, 1);
    for origin in [(3, 0), (0, 4), (usize::MAX, 0), (0, usize::MAX - 1)] {
        let error = cut_patches(image.view(), 2, &[(0, 0), origin]).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    }
    assert!(cut_patches(image.view(), 0, &[(0, 0)]).is_err());
    assert!(patches(image.view(), 6, 1).is_err());
}

#[test]
fn stitching_puts_patches_back_and_averages_overlaps() {
    // Two 2 × 2 grey patches overlapping in the middle column of a 2 × 3 picture, and the middle pixel of a
    // third row covered by three patches.
    let rows = array![
        [1.0_f32, 1.0, 1.0, 1.0],
        [4.0, 4.0, 4.0, 4.0],
        [7.0, 7.0, 7.0, 7.0],
        [10.0, 10.0, 10.0, 10.0],
    ];
    let image = stitch_patches(rows.view(), &[(0, 0), (0, 1), (1, 0), (1, 1)], 2, (3, 3, 1)).unwrap();
    let expected = array![
        [1.0, 2.5, 4.0],
        [4.0, 5.5, 7.0], // (1, 1): the mean of all four
        [7.0, 8.5, 10.0],
    ];
    assert_eq!(image.index_axis(autoencoder::ndarray::Axis(2), 0), expected);
    assert_eq!(image[[1, 1, 0]], (1.0 + 4.0 + 7.0 + 10.0) / 4.0);
}

#[test]
fn cutting_and_stitching_with_covering_origins_gives_the_picture_back() {
    let image = numbered_image(11, 13, 3);
    for (size, stride) in [(4, 3), (5, 5), (3, 3), (11, 1), (2, 1)] {
        let origins = covering_patch_origins(11, 13, size, stride).unwrap();
        let rows = cut_patches(image.view(), size, &origins).unwrap();
        let back = stitch_patches(rows.view(), &origins, size, (11, 13, 3)).unwrap();
        assert!(
            back.iter().zip(&image).all(|(a, b)| (a - b).abs() < 1e-3),
            "size {size} stride {stride}"
        );
    }
    // A stride larger than the patches leaves gaps between them that no origin covers.
    let origins = covering_patch_origins(3, 8, 3, 4).unwrap();
    assert_eq!(origins, [(0, 0), (0, 4), (0, 5)]);
    let rows = Array2::zeros((3, 27));
    let error = stitch_patches(rows.view(), &origins, 3, (3, 8, 3)).unwrap_err();
    assert!(error.to_string().contains("(y 0, x 3) is in no patch"), "{error}");
    let origins = covering_patch_origins(11, 13, 3, 5).unwrap();
    let rows = cut_patches(image.view(), 3, &origins).unwrap();
    let error = stitch_patches(rows.view(), &origins, 3, (11, 13, 3)).unwrap_err();
    assert!(error.to_string().contains("cannot cover"), "{error}");
}

#[test]
fn stitching_errors() {
    let rows = Array2::<f32>::zeros((2, 4));
    let origins = [(0, 0), (0, 1)];
    let shape = (2, 3, 1);
    assert!(stitch_patches(rows.view(), &origins, 2, shape).is_ok());
    // Counts and columns.
    assert!(matches!(
        stitch_patches(rows.view(), &origins[..1], 2, shape),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        stitch_patches(rows.view(), &origins, 2, (2, 3, 3)),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        stitch_patches(rows.view(), &origins, 3, shape),
        Err(Error::Shape { .. })
    ));
    assert!(stitch_patches(rows.view(), &origins, 0, shape).is_err());
    // A patch outside the picture.
    let error = stitch_patches(rows.view(), &[(0, 0), (0, 2)], 2, shape).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    // A pixel in no patch.
    let error = stitch_patches(rows.view(), &[(0, 0), (0, 0)], 2, shape).unwrap_err();
    assert!(error.to_string().contains("(y 0, x 2) is in no patch"), "{error}");
    let error = stitch_patches(rows.view(), &origins, 2, (2, 4, 1)).unwrap_err();
    assert!(error.to_string().contains("in no patch"), "{error}");
    // A huge picture is refused without allocating it, with channels or without.
    let error = stitch_patches(rows.view(), &origins, 2, (1 << 40, 1 << 40, 1)).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    let no_channels = Array2::<f32>::zeros((1, 0));
    let error = stitch_patches(no_channels.view(), &[(0, 0)], 100_000, (100_000, 100_000, 0)).unwrap_err();
    assert!(error.to_string().contains("0 channels"), "{error}");
}

// ---------------------------------------------------------------------------------------------------------------
// Colour

#[test]
fn rgb_to_grey_weighs_the_channels_like_rgb2gray() {
    let rgb = array![
        [1.0_f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        [0.2, 0.4, 0.6, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    ];
    let grey = rgb_to_grey(rgb.view()).unwrap();
    let expected = array![
        [0.299_f32, 0.587, 0.114],
        [0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, 1.0, 0.0]
    ];
    assert_eq!(grey.dim(), (2, 3));
    assert!(grey.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-6), "{grey}");
    assert_eq!(GREY_WEIGHTS, [0.299, 0.587, 0.114]);

    assert!(matches!(
        rgb_to_grey(Array2::zeros((2, 4)).view()),
        Err(Error::Shape { .. })
    ));
    assert_eq!(rgb_to_grey(Array2::zeros((2, 0)).view()).unwrap().dim(), (2, 0));
}

#[test]
fn grey_to_rgb_copies_each_value_to_all_three_channels() {
    let grey = array![[0.1_f32, 0.9], [0.5, 0.0]];
    let rgb = grey_to_rgb(grey.view()).unwrap();
    assert_eq!(
        rgb,
        array![[0.1, 0.1, 0.1, 0.9, 0.9, 0.9], [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]]
    );
    let back = rgb_to_grey(rgb.view()).unwrap();
    assert!(back.iter().zip(&grey).all(|(a, b)| (a - b).abs() < 1e-6));
}

#[test]
fn ycbcr_matches_hand_computed_values() {
    // Black, white, red, green, blue, and (0.2, 0.4, 0.6), computed with JPEG's (JFIF) full-range formulas.
    let rgb = array![[0.0_f32, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.2, 0.4, 0.6]];
    let expected = [
        [0.0, 0.5, 0.5],
        [1.0, 0.5, 0.5],
        [0.299, 0.331264, 1.0],
        [0.587, 0.168736, 0.081312],
        [0.114, 1.0, 0.418688],
        [0.363, 0.6337472, 0.3837376],
    ];
    let ycbcr = rgb_to_ycbcr(rgb.view()).unwrap();
    let expected: Vec<f32> = expected.concat();
    assert!(
        ycbcr.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-5),
        "{ycbcr}\n{expected:?}"
    );

    let back = ycbcr_to_rgb(ycbcr.view()).unwrap();
    assert!(back.iter().zip(&rgb).all(|(a, b)| (a - b).abs() < 1e-4), "{back}");
}

#[test]
fn ycbcr_round_trips_and_clamps() {
    let rgb = Array2::from_shape_fn((7, 30), |(i, j)| ((i * 31 + j * 17) % 101) as f32 / 100.0);
    let ycbcr = rgb_to_ycbcr(rgb.view()).unwrap();
    assert!(ycbcr.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
    let back = ycbcr_to_rgb(ycbcr.view()).unwrap();
    assert!(back.iter().zip(&rgb).all(|(a, b)| (a - b).abs() < 1e-4));

    // Out-of-gamut YCbCr (full blue and red difference on black) is clamped into [0, 1].
    let wild = ycbcr_to_rgb(array![[0.0_f32, 1.0, 1.0, 1.0, 0.0, 0.0]].view()).unwrap();
    assert!(wild.iter().all(|v| (0.0..=1.0).contains(v)), "{wild}");
    assert_eq!(wild[[0, 0]], 0.701);

    assert!(matches!(
        rgb_to_ycbcr(Array2::zeros((1, 5)).view()),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        ycbcr_to_rgb(Array2::zeros((1, 7)).view()),
        Err(Error::Shape { .. })
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// Colour pictures written and read back

#[test]
fn write_image_writes_grey_and_rgb_that_read_back() {
    let dir = scratch("write-image");
    let rgb = Array3::from_shape_fn((3, 4, 3), |(y, x, k)| ((y * 40 + x * 9 + k * 70) % 256) as f32 / 255.0);
    write_image(dir.join("rgb.png"), rgb.view()).unwrap();
    let back = read_png(dir.join("rgb.png"), Alpha::Keep).unwrap();
    assert!(back.iter().zip(&rgb).all(|(a, b)| (a - b).abs() < 1e-6));

    let grey = Array3::from_shape_fn((2, 5, 1), |(y, x, _)| (y * 5 + x) as f32 / 255.0);
    write_image(dir.join("grey.png"), grey.view()).unwrap();
    assert_eq!(read_png(dir.join("grey.png"), Alpha::Keep).unwrap(), grey);

    // Clamped, NaN as 0.
    let odd = array![[[f32::NAN], [-1.0], [2.0]]];
    write_image(dir.join("odd.png"), odd.view()).unwrap();
    assert_eq!(
        read_png(dir.join("odd.png"), Alpha::Drop).unwrap(),
        array![[[0.0], [0.0], [1.0]]]
    );

    for bad in [
        Array3::<f32>::zeros((2, 2, 2)),
        Array3::zeros((2, 2, 4)),
        Array3::zeros((0, 2, 3)),
        Array3::zeros((2, 0, 1)),
    ] {
        let error = write_image(dir.join("bad.png"), bad.view()).unwrap_err();
        assert!(matches!(error, Error::Image { .. }), "{error:?}");
    }
    assert!(!dir.join("bad.png").exists());
}

#[test]
fn a_3_channel_grid_draws_rgb_cells() {
    let dir = scratch("rgb-grid");
    let path = dir.join("grid.png");
    // Three 2 × 3 (h × w) RGB images, each pixel a distinct colour.
    let (rows, cols, scale, gap, columns) = (2, 3, 2, 1, 2);
    let images = Array2::from_shape_fn((3, rows * cols * 3), |(i, j)| ((i * 60 + j * 13) % 256) as f32 / 255.0);
    let layout = GridLayout::new(rows, cols)
        .channels(3)
        .columns(columns)
        .gap(gap)
        .scale(scale);
    assert_eq!(layout.image_len(), 18);
    write_grid(&path, images.view(), &layout).unwrap();

    let picture = read_png(&path, Alpha::Keep).unwrap();
    // 2 cells wide and 2 tall: gap + c × (cols × scale + gap) by gap + r × (rows × scale + gap).
    let (cell_width, cell_height) = (cols * scale, rows * scale);
    assert_eq!(
        picture.dim(),
        (gap + 2 * (cell_height + gap), gap + 2 * (cell_width + gap), 3)
    );
    let background = f32::from(GRID_BACKGROUND) / 255.0;
    assert_eq!(
        picture.slice(autoencoder::ndarray::s![0, 0, ..]).to_vec(),
        [background; 3]
    );
    // The empty fourth cell is background.
    let (x4, y4) = (gap + (cell_width + gap), gap + (cell_height + gap));
    assert_eq!(
        picture.slice(autoencoder::ndarray::s![y4, x4, ..]).to_vec(),
        [background; 3]
    );
    for i in 0..3 {
        let (x0, y0) = (
            gap + (i % columns) * (cell_width + gap),
            gap + (i / columns) * (cell_height + gap),
        );
        for y in 0..rows {
            for x in 0..cols {
                for (dy, dx) in [(0, 0), (scale - 1, scale - 1)] {
                    let drawn = picture.slice(autoencoder::ndarray::s![y0 + y * scale + dy, x0 + x * scale + dx, ..]);
                    let at = (y * cols + x) * 3;
                    let expected = images.slice(autoencoder::ndarray::s![i, at..at + 3]);
                    assert!(
                        drawn.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
                        "image {i} ({y}, {x})"
                    );
                }
            }
        }
    }

    // A grey layout with channels(1) still draws a grey picture.
    write_grid(
        &path,
        Array2::from_elem((2, 4), 0.5_f32).view(),
        &GridLayout::new(2, 2).channels(1),
    )
    .unwrap();
    assert_eq!(read_png(&path, Alpha::Keep).unwrap().dim().2, 1);
    // Columns that do not fit the channels, and channels other than 1 or 3, are errors.
    assert!(matches!(
        write_grid(&path, images.view(), &GridLayout::new(rows, cols)),
        Err(Error::Image { .. })
    ));
    let two = GridLayout::new(rows, cols).channels(2);
    let error = write_grid(&path, Array2::zeros((1, 12)).view(), &two).unwrap_err();
    assert!(error.to_string().contains("1 channel (grey) or 3 (RGB)"), "{error}");
}

// ---------------------------------------------------------------------------------------------------------------
// Fuzz seeds

/// Writes small PNGs of every kind to `fuzz/corpus/png_read` (run by `fuzz/seed-png-corpus.sh`).
#[test]
#[ignore = "writes the fuzz corpus; run by fuzz/seed-png-corpus.sh"]
fn write_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/png_read");
    fs::create_dir_all(&dir).unwrap();
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "grey8",
            encode8((3, 2), ColorType::Grayscale, &[0, 1, 2, 127, 128, 255]),
        ),
        (
            "grey16",
            encode(
                (2, 1),
                ColorType::Grayscale,
                BitDepth::Sixteen,
                &be16(&[0, 65535]),
                |_| {},
            ),
        ),
        (
            "grey-alpha",
            encode8((2, 1), ColorType::GrayscaleAlpha, &[10, 255, 20, 0]),
        ),
        ("rgb", small_rgb_png()),
        (
            "rgba16",
            encode((1, 1), ColorType::Rgba, BitDepth::Sixteen, &be16(&[1, 2, 3, 4]), |_| {}),
        ),
        (
            "palette-trns",
            encode((2, 2), ColorType::Indexed, BitDepth::Eight, &[0, 1, 2, 1], |e| {
                e.set_palette(&PALETTE[..]);
                e.set_trns(&[0_u8, 128][..]);
            }),
        ),
        (
            "palette-2bit",
            encode(
                (3, 2),
                ColorType::Indexed,
                BitDepth::Two,
                &[0b00_01_10_00, 0b10_01_00_00],
                |e| e.set_palette(&PALETTE[..]),
            ),
        ),
        (
            "grey1",
            encode(
                (5, 2),
                ColorType::Grayscale,
                BitDepth::One,
                &[0b1011_0000, 0b0100_1000],
                |_| {},
            ),
        ),
        (
            "grey4",
            encode(
                (3, 2),
                ColorType::Grayscale,
                BitDepth::Four,
                &[0x0F, 0x70, 0x18, 0xE0],
                |_| {},
            ),
        ),
        (
            "grey-trns",
            encode((4, 1), ColorType::Grayscale, BitDepth::Eight, &[0, 50, 100, 50], |e| {
                e.set_trns(&[0_u8, 50][..])
            }),
        ),
        (
            "interlaced",
            hand_made_png(9, 10, 8, 2, true, &adam7_rows(&[7; 270], 9, 10, 3)),
        ),
    ];
    seeds.push(("animated", animated_png()));
    for (name, bytes) in seeds {
        assert!(decode_png(&bytes, Alpha::Keep).is_ok(), "{name}");
        fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

/// A file name that is not UTF-8 cannot be told apart from another in `ImageFolder::names`: an error naming it.
#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("not-utf8");
    let png = encode8((1, 1), ColorType::Grayscale, &[7]);
    fs::write(dir.join(std::ffi::OsStr::from_bytes(b"a\xfe.png")), &png).unwrap();
    fs::write(dir.join(std::ffi::OsStr::from_bytes(b"a\xff.png")), &png).unwrap();
    let error = read_png_folder(&dir, Alpha::Drop).unwrap_err();
    assert!(
        matches!(error, Error::Dataset { .. }) && error.to_string().contains("UTF-8"),
        "{error}"
    );
}
