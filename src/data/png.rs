//! Reading PNG pictures into arrays: one picture ([`decode_png`], [`read_png`]) as an `(h, w, c)` array of
//! values in `[0, 1]`, or a folder of them ([`read_png_folder`]) as rows of `h * w * c` values in HWC order.
//!
//! Every kind of PNG is read: grey, grey with alpha, RGB and RGBA in 8 or 16 bits, grey in 1, 2 or 4 bits
//! (expanded to 8), palettes (expanded to RGB, or RGBA when a `tRNS` chunk makes colours transparent),
//! interlaced or not. 8-bit samples are divided by 255, 16-bit ones by 65535. Of an animated PNG only the first
//! frame is read (the image a viewer that knows nothing of animation shows). A palette index past the end of the
//! palette reads as black, as the `png` crate expands it (most viewers do the same).
//!
//! Malformed input is an [`Error::Png`] whose message names the problem — not a PNG (and
//! what it looks like instead), cut short, a corrupt chunk, no pixels, too large — never a panic. A picture of
//! more than [`MAX_PNG_VALUES`] values is refused before its pixels are allocated.
//!
//! ```
//! use autoencoder::data::png::{read_png, Alpha};
//!
//! # fn main() -> autoencoder::Result<()> {
//! let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos/coffee.png");
//! let coffee = read_png(photo, Alpha::Drop)?;
//! assert_eq!(coffee.dim(), (400, 600, 3)); // 400 tall, 600 wide, RGB
//! assert!(coffee.iter().all(|v| (0.0..=1.0).contains(v)));
//! # Ok(())
//! # }
//! ```

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use png::{BitDepth, ColorType, DecodingError, Transformations};

use crate::error::{Error, Result};

/// The most values (`height * width * channels`, counting an alpha channel) one picture may hold: 2²⁶, for
/// example 4096 × 4096 RGBA (256 MiB as `f32`). A larger picture is an error, found before its pixels are
/// allocated.
///
/// ```
/// assert_eq!(autoencoder::data::png::MAX_PNG_VALUES, 4096 * 4096 * 4);
/// ```
pub const MAX_PNG_VALUES: usize = 1 << 26;

/// What the `png` decoder may allocate for itself (metadata chunks, a row of pixels): 64 MiB.
const DECODER_LIMIT_BYTES: usize = 1 << 26;

/// The eight bytes every PNG file starts with.
const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

/// What to do with a picture's alpha (opacity) channel.
///
/// ```
/// use autoencoder::data::png::{read_png, Alpha};
/// let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos/coffee.png");
/// // The photo has no alpha channel, so both give RGB.
/// assert_eq!(read_png(photo, Alpha::Keep)?.dim().2, 3);
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpha {
    /// Leave alpha out: grey gives 1 channel, colour 3, whatever the file holds.
    Drop,
    /// Keep alpha as the last channel when the file has one: grey + alpha gives 2 channels, RGBA 4.
    Keep,
}

/// Decodes a PNG held in memory into an `(height, width, channels)` array of values in `[0, 1]`.
///
/// `channels` is 1 for grey, 3 for colour (a palette is colour), plus 1 with [`Alpha::Keep`] when the file has
/// alpha (an alpha channel, or a `tRNS` chunk). Of an animated PNG only the first frame is decoded.
///
/// # Errors
/// [`Error::Png`] (without a path) when the bytes are empty, not a PNG, cut short or corrupt, when the picture
/// has no pixels, or when it holds more than [`MAX_PNG_VALUES`] values.
///
/// ```
/// use autoencoder::data::png::{decode_png, Alpha};
///
/// let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos/coffee.png")).unwrap();
/// let coffee = decode_png(&bytes, Alpha::Drop)?;
/// assert_eq!(coffee.dim(), (400, 600, 3));
///
/// let err = decode_png(&bytes[..1000], Alpha::Drop).unwrap_err();
/// assert!(err.to_string().contains("cut short"), "{err}");
/// let err = decode_png(b"GIF89a...", Alpha::Drop).unwrap_err();
/// assert!(err.to_string().contains("a GIF image"), "{err}");
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn decode_png(bytes: &[u8], alpha: Alpha) -> Result<Array3<f32>> {
    decode(Cursor::new(bytes), alpha).map_err(|failure| failure.into_error(None))
}

/// Reads the PNG file at `path` into an `(height, width, channels)` array of values in `[0, 1]`, as
/// [`decode_png`] does.
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be opened or read; [`Error::Png`] naming it when its contents
/// cannot be decoded (as [`decode_png`]).
///
/// ```
/// use autoencoder::data::png::{read_png, Alpha};
/// let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos/coffee.png");
/// assert_eq!(read_png(photo, Alpha::Drop)?.dim(), (400, 600, 3));
///
/// let err = read_png("no/such/picture.png", Alpha::Drop).unwrap_err();
/// assert!(err.to_string().contains("no/such/picture.png"), "{err}");
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn read_png(path: impl AsRef<Path>, alpha: Alpha) -> Result<Array3<f32>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    decode(BufReader::new(file), alpha).map_err(|failure| failure.into_error(Some(path)))
}

/// The PNG files (named `*.png`, in any case: `.png`, `.PNG`, ...) in the folder `dir`, sorted by file name.
/// Other files and sub-folders are ignored; the folder is not searched recursively.
///
/// # Errors
/// [`Error::Io`] naming the folder when it cannot be read (it does not exist, say); [`Error::Dataset`] naming it
/// when it holds no PNG file.
///
/// ```
/// use autoencoder::data::png::png_files;
/// let photos = png_files(concat!(env!("CARGO_MANIFEST_DIR"), "/data/photos"))?;
/// assert_eq!(photos.len(), 7); // README.md is not a picture
/// assert!(photos[0].ends_with("astronaut.png"));
/// assert!(png_files("no/such/folder").is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn png_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_png = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("png"));
        if is_png && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::Dataset {
            path: dir.to_path_buf(),
            message: "the folder holds no PNG files (*.png)".into(),
        });
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The pictures of a folder, one per row, as [`read_png_folder`] reads them.
///
/// ```
/// use autoencoder::data::png::{read_png_folder, Alpha};
/// let folder = read_png_folder(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/png-folder"), Alpha::Drop)?;
/// let (h, w, c) = folder.shape;
/// assert_eq!(folder.images.dim(), (folder.names.len(), h * w * c));
/// # Ok::<(), autoencoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolder {
    /// One picture per row, its `h * w * c` values in HWC order (row by row, the channels of a pixel together).
    pub images: Array2<f32>,
    /// The shape `(h, w, c)` that every picture has.
    pub shape: (usize, usize, usize),
    /// The file name of each row's picture (`cat.png`), in the order of the rows: sorted.
    pub names: Vec<String>,
}

/// Reads every PNG file in the folder `dir` ([`png_files`]: sorted by name, other files ignored) into one row
/// each of an [`ImageFolder`], as [`read_png`] reads them.
///
/// # Errors
/// As [`png_files`] and [`read_png`]; [`Error::Dataset`] naming the first file whose shape `(h, w, c)` differs
/// from the first file's, with both shapes, a file whose name is not valid UTF-8, or pictures too many for
/// memory.
///
/// ```
/// use autoencoder::data::png::{read_png_folder, Alpha};
/// let folder = read_png_folder(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/png-folder"), Alpha::Drop)?;
/// assert_eq!(folder.names, ["a.png", "b.png"]);
/// assert_eq!(folder.shape, (2, 3, 3));
/// assert_eq!(folder.images.dim(), (2, 18));
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn read_png_folder(dir: impl AsRef<Path>, alpha: Alpha) -> Result<ImageFolder> {
    let files = png_files(dir)?;
    let mut values = Vec::new();
    let mut names = Vec::with_capacity(files.len());
    let mut shape = None;
    for path in &files {
        let image = read_png(path, alpha)?;
        match shape {
            None => shape = Some(image.dim()),
            Some(first) if first != image.dim() => {
                return Err(Error::Dataset {
                    path: path.clone(),
                    message: format!(
                        "the picture is {} (h×w×c), but {} is {}: every picture in the folder must have the \
                         same shape",
                        shape_text(image.dim()),
                        names[0],
                        shape_text(first)
                    ),
                })
            }
            Some(_) => {}
        }
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| Error::Dataset {
                path: path.clone(),
                message: "the file name is not valid UTF-8, so the folder's names could not tell it apart from \
                      another: rename the file"
                    .into(),
            })?;
        values.try_reserve(image.len()).map_err(|_| Error::Dataset {
            path: path.clone(),
            message: format!(
                "the pictures of the folder, up to this one, need more memory than there is ({} values)",
                values.len().saturating_add(image.len())
            ),
        })?;
        values.extend(image.iter());
        names.push(name.to_string());
    }
    let shape = shape.unwrap_or_default();
    let images = Array2::from_shape_vec((names.len(), shape.0 * shape.1 * shape.2), values)
        .expect("every picture added shape.0 * shape.1 * shape.2 values");
    Ok(ImageFolder { images, shape, names })
}

fn shape_text((h, w, c): (usize, usize, usize)) -> String {
    format!("{h}×{w}×{c}")
}

/// Why decoding failed: the input is not a good PNG, or reading it failed.
enum Failure {
    Malformed(String),
    Read(io::Error),
}

impl Failure {
    fn into_error(self, path: Option<&Path>) -> Error {
        match (self, path) {
            (Failure::Read(source), Some(path)) => Error::io(path, source),
            (Failure::Read(source), None) => Error::Stream(source),
            (Failure::Malformed(message), path) => Error::Png {
                path: path.map(Path::to_path_buf),
                message,
            },
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Malformed(message)
    }
}

impl From<DecodingError> for Failure {
    fn from(error: DecodingError) -> Failure {
        match error {
            DecodingError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Failure::Malformed("the data is cut short: the file ends before the picture does".into())
            }
            DecodingError::IoError(e) => Failure::Read(e),
            DecodingError::LimitsExceeded => Failure::Malformed(format!(
                "the picture is too large to decode (more than {DECODER_LIMIT_BYTES} bytes of metadata or of one \
                 row, or a size beyond this machine's memory)"
            )),
            DecodingError::Format(e) => Failure::Malformed(format!("corrupt data: {}", name_chunks(&e.to_string()))),
            other => Failure::Malformed(other.to_string()),
        }
    }
}

/// Shortens the `png` crate's `ChunkType { type: IDAT, critical: true, ... }` in a message to `IDAT`.
fn name_chunks(message: &str) -> String {
    const START: &str = "ChunkType { type: ";
    let mut tidy = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(START) {
        let after = &rest[start + START.len()..];
        let Some(name_end) = after.find(", critical:") else {
            break;
        };
        let Some(close) = after[name_end..].find(" }") else {
            break;
        };
        tidy.push_str(&rest[..start]);
        tidy.push_str(&after[..name_end]);
        rest = &after[name_end + close + 2..];
    }
    tidy.push_str(rest);
    tidy
}

/// Decodes the first frame of the PNG that `input` holds.
fn decode(mut input: impl BufRead + Seek, alpha: Alpha) -> Result<Array3<f32>, Failure> {
    check_signature(&mut input)?;
    let limits = png::Limits {
        bytes: DECODER_LIMIT_BYTES,
    };
    let mut decoder = png::Decoder::new_with_limits(input, limits);
    decoder.set_transformations(Transformations::EXPAND);
    decoder.set_ignore_text_chunk(true);
    let mut reader = decoder.read_info()?;

    let (width, height) = reader.info().size();
    let (width, height) = (width as usize, height as usize);
    if width == 0 || height == 0 {
        return Err(format!("the picture has no pixels ({width}×{height})").into());
    }
    let (colour, depth) = reader.output_color_type();
    let (file_channels, has_alpha) = match colour {
        ColorType::Grayscale => (1, false),
        ColorType::GrayscaleAlpha => (2, true),
        ColorType::Rgb => (3, false),
        ColorType::Rgba => (4, true),
        ColorType::Indexed => return Err("a palette that could not be expanded to colours".to_string().into()),
    };
    let sample_bytes = match depth {
        BitDepth::Eight => 1,
        BitDepth::Sixteen => 2,
        other => return Err(format!("samples of {other:?} bits that could not be expanded to 8").into()),
    };
    let values = width
        .checked_mul(height)
        .and_then(|pixels| pixels.checked_mul(file_channels))
        .filter(|&values| values <= MAX_PNG_VALUES);
    if values.is_none() {
        return Err(format!(
            "the picture is too large: {width}×{height} pixels of {file_channels} channels is more than \
             {MAX_PNG_VALUES} values"
        )
        .into());
    }
    let buffer_len = reader
        .output_buffer_size()
        .ok_or_else(|| format!("the picture of {width}×{height} pixels is too large for this machine"))?;
    let mut buffer = vec![0_u8; buffer_len];
    let frame = reader.next_frame(&mut buffer)?;
    if (frame.width as usize, frame.height as usize) != (width, height) {
        return Err(format!(
            "the first frame is {}×{} pixels, but the picture {width}×{height}",
            frame.width, frame.height
        )
        .into());
    }

    let channels = match (alpha, has_alpha) {
        (Alpha::Drop, true) => file_channels - 1,
        _ => file_channels,
    };
    let line = frame.line_size;
    let sample = |y: usize, x: usize, k: usize| -> f32 {
        let at = y * line + (x * file_channels + k) * sample_bytes;
        if sample_bytes == 1 {
            f32::from(buffer[at]) / 255.0
        } else {
            f32::from(u16::from_be_bytes([buffer[at], buffer[at + 1]])) / 65535.0
        }
    };
    Ok(Array3::from_shape_fn((height, width, channels), |(y, x, k)| {
        sample(y, x, k)
    }))
}

/// Checks the first eight bytes of `input` and rewinds it; the error says what the input looks like instead.
fn check_signature(input: &mut (impl Read + Seek)) -> Result<(), Failure> {
    let mut head = [0_u8; 16];
    let mut filled = 0;
    while filled < head.len() {
        match input.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Read(e)),
        }
    }
    let head = &head[..filled];
    if head.is_empty() {
        return Err("the input is empty".to_string().into());
    }
    if SIGNATURE.starts_with(head) && head.len() < SIGNATURE.len() {
        return Err(format!(
            "the data is cut short: it ends after {} of the 8 bytes of the PNG signature",
            head.len()
        )
        .into());
    }
    if !head.starts_with(&SIGNATURE) {
        let shown: Vec<String> = head.iter().take(SIGNATURE.len()).map(|b| format!("{b:02x}")).collect();
        let what = match other_format(head) {
            Some(what) => format!("; this is {what}"),
            None => String::new(),
        };
        return Err(format!(
            "not a PNG: it starts with {} instead of the PNG signature 89 50 4e 47 0d 0a 1a 0a{what}",
            shown.join(" ")
        )
        .into());
    }
    input.seek(SeekFrom::Start(0)).map_err(Failure::Read)?;
    Ok(())
}

/// Names the format of a few files often mistaken for PNG, from their first bytes.
fn other_format(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(head).trim_start().to_ascii_lowercase();
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("a JPEG image")
    } else if head.starts_with(b"GIF8") {
        Some("a GIF image")
    } else if head.starts_with(b"BM") {
        Some("a BMP image")
    } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("a WebP image")
    } else if head.starts_with(&[0x1F, 0x8B]) {
        Some("gzip-compressed data")
    } else if text.starts_with("<!doctype html") || text.starts_with("<html") {
        Some("an HTML page (a download that returned a web page?)")
    } else if text.starts_with("<svg") || text.starts_with("<?xml") {
        Some("an SVG or XML file")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_types_in_messages_are_shortened_to_their_names() {
        let message = "CRC error while decoding ChunkType { type: IDAT, critical: true, private: false, reserved: \
                       false, safecopy: false } chunk.";
        assert_eq!(name_chunks(message), "CRC error while decoding IDAT chunk.");
        let odd = "ChunkType { type: IHD\\u{ad}, critical: true, safecopy: true } chunk appeared before IHDR chunk";
        assert_eq!(name_chunks(odd), "IHD\\u{ad} chunk appeared before IHDR chunk");
        assert_eq!(name_chunks("ChunkType { type: broken"), "ChunkType { type: broken");
    }
}
