//! The PNG pictures of `autoencoder::image`, decoded back with the `png` crate: sizes, layout, pixel values,
//! colours, and the errors on bad input.

mod common;

use std::fs;
use std::path::Path;

use autoencoder::image::{
    write_grid, write_labelled_rows, write_scatter, GridLayout, ScatterStyle, GRID_BACKGROUND, GRID_TEXT, PALETTE,
};
use autoencoder::ndarray::{array, Array1, Array2};
use autoencoder::Error;
use common::scratch;

/// A decoded 8-bit PNG: width, height, channels (1 gray, 3 RGB) and the pixels row by row.
struct Picture {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
}

impl Picture {
    fn read(path: &Path) -> Picture {
        let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::Rgb => 3,
            other => panic!("unexpected colour type {other:?}"),
        };
        pixels.truncate(info.buffer_size());
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            channels,
            pixels,
        }
    }

    fn gray(&self, x: usize, y: usize) -> u8 {
        assert_eq!(self.channels, 1);
        self.pixels[y * self.width + x]
    }

    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        assert_eq!(self.channels, 3);
        let at = (y * self.width + x) * 3;
        [self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]]
    }

    /// Every `(x, y)` whose colour is `colour`.
    fn find(&self, colour: [u8; 3]) -> Vec<(usize, usize)> {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.rgb(x, y) == colour)
            .collect()
    }
}

fn assert_image_error(result: autoencoder::Result<()>, needle: &str) {
    match result {
        Err(Error::Image { message, .. }) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}")
        }
        other => panic!("expected an image error about {needle:?}, got {other:?}"),
    }
}

#[test]
fn a_grid_places_each_image_in_its_cell_with_clamped_values_and_a_background_gap() {
    let dir = scratch("grid");
    let path = dir.join("grid.png");
    // Three 2×2 images, two per row, gap 1: 1 + 2 × (2 + 1) = 7 pixels each way.
    let images = array![
        [0.0_f32, 1.0, 0.5, f32::NAN],
        [-1.0, 2.0, 0.25, 0.75],
        [1.0, 1.0, 1.0, 1.0],
    ];
    write_grid(&path, images.view(), &GridLayout::new(2, 2).columns(2).gap(1)).unwrap();
    let picture = Picture::read(&path);
    assert_eq!((picture.width, picture.height, picture.channels), (7, 7, 1));

    // Image 0 at (1, 1), image 1 at (4, 1), image 2 at (1, 4); pixel p of an image at (p % 2, p / 2).
    assert_eq!(
        [
            picture.gray(1, 1),
            picture.gray(2, 1),
            picture.gray(1, 2),
            picture.gray(2, 2)
        ],
        [0, 255, 128, 0]
    );
    assert_eq!(
        [
            picture.gray(4, 1),
            picture.gray(5, 1),
            picture.gray(4, 2),
            picture.gray(5, 2)
        ],
        [0, 255, 64, 191]
    );
    assert_eq!(
        [
            picture.gray(1, 4),
            picture.gray(2, 4),
            picture.gray(1, 5),
            picture.gray(2, 5)
        ],
        [255; 4]
    );
    // The fourth cell is empty, and the gaps are background.
    for (x, y) in [(4, 4), (5, 5), (0, 0), (3, 3), (6, 6), (3, 1), (1, 3)] {
        assert_eq!(picture.gray(x, y), GRID_BACKGROUND, "({x}, {y})");
    }
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "a temporary file was left behind"
    );
}

#[test]
fn a_scaled_grid_keeps_images_upright_and_magnifies_every_pixel() {
    let dir = scratch("scaled");
    let path = dir.join("scaled.png");
    // One image 2 rows × 3 columns, row-major: only the top-right pixel is white.
    let image = array![[0.0_f32, 0.0, 1.0, 0.0, 0.0, 0.0]];
    write_grid(&path, image.view(), &GridLayout::new(2, 3).scale(2)).unwrap();
    let picture = Picture::read(&path);
    // Default gap 2: width 2 + 3·2 + 2 = 10, height 2 + 2·2 + 2 = 8; columns shrink to the one image.
    assert_eq!((picture.width, picture.height), (10, 8));
    for y in 2..6 {
        for x in 2..8 {
            let white = (6..8).contains(&x) && (2..4).contains(&y);
            assert_eq!(picture.gray(x, y), if white { 255 } else { 0 }, "({x}, {y})");
        }
    }
}

#[test]
fn labelled_rows_start_each_set_on_a_new_row_after_a_label_margin() {
    let dir = scratch("labelled");
    let path = dir.join("rows.png");
    let first = Array2::from_elem((3, 49), 1.0_f32); // three white 7×7 images: two rows of two
    let second = Array2::from_elem((1, 49), 0.0_f32); // one black image: a third row
    let layout = GridLayout::new(7, 7).columns(2).gap(1);
    write_labelled_rows(&path, &[("A", first.view()), ("BB", second.view())], &layout).unwrap();
    let picture = Picture::read(&path);

    // The margin holds the longest label, "BB": 5 + 1 + 5 = 11 pixels, plus one gap.
    let margin = 1 + 11;
    assert_eq!(picture.width, margin + 1 + 2 * (7 + 1));
    assert_eq!(picture.height, 1 + 3 * (7 + 1));
    let cell = |column: usize, row: usize| (margin + 1 + column * 8, 1 + row * 8);
    for (column, row, value) in [(0, 0, 255), (1, 0, 255), (0, 1, 255), (0, 2, 0)] {
        let (x, y) = cell(column, row);
        assert_eq!(picture.gray(x + 3, y + 3), value, "cell ({column}, {row})");
    }
    // The first set's third image leaves its row's second cell empty: the second set starts a new row.
    let (x, y) = cell(1, 1);
    assert_eq!(picture.gray(x + 3, y + 3), GRID_BACKGROUND);
    let (x, y) = cell(1, 2);
    assert_eq!(picture.gray(x + 3, y + 3), GRID_BACKGROUND);

    // Label text in the margin: in the first row for "A", in the third row for "BB", nowhere in the second.
    let text_in_row = |row: usize| {
        let rows = 1 + row * 8..1 + row * 8 + 7;
        rows.flat_map(|y| (0..margin).map(move |x| (x, y)))
            .filter(|&(x, y)| picture.gray(x, y) == GRID_TEXT)
            .count()
    };
    assert!(text_in_row(0) > 5, "no label beside the first band");
    assert_eq!(text_in_row(1), 0);
    assert!(
        text_in_row(2) > text_in_row(0),
        "\"BB\" should have more ink than \"A\""
    );
}

#[test]
fn an_unlabelled_grid_has_no_margin() {
    let dir = scratch("unlabelled");
    let path = dir.join("rows.png");
    let images = Array2::from_elem((2, 4), 0.5_f32);
    write_labelled_rows(
        &path,
        &[("", images.view()), ("", images.view())],
        &GridLayout::new(2, 2).gap(0),
    )
    .unwrap();
    let picture = Picture::read(&path);
    assert_eq!((picture.width, picture.height), (4, 4));
    assert!(picture.pixels.iter().all(|&p| p == 128));
}

#[test]
fn bad_grids_are_errors_that_name_the_problem() {
    let dir = scratch("bad-grid");
    let path = dir.join("bad.png");
    let images = Array2::from_elem((2, 4), 0.5_f32);
    let layout = GridLayout::new(2, 2);
    assert_image_error(write_grid(&path, Array2::zeros((0, 4)).view(), &layout), "no images");
    assert_image_error(
        write_grid(&path, images.view(), &GridLayout::new(2, 3)),
        "values per image",
    );
    for zero in [
        GridLayout::new(0, 4),
        GridLayout::new(2, 2).columns(0),
        GridLayout::new(2, 2).scale(0),
    ] {
        let zero_images = Array2::zeros((1, zero.image_len()));
        assert_image_error(write_grid(&path, zero_images.view(), &zero), "at least 1");
    }
    assert_image_error(write_labelled_rows(&path, &[], &layout), "no images");
    let empty = Array2::zeros((0, 4));
    assert_image_error(
        write_labelled_rows(&path, &[("a", images.view()), ("b", empty.view())], &layout),
        "\"b\"",
    );
    assert_image_error(write_grid(&path, images.view(), &layout.scale(100_000)), "pixels");
    assert_image_error(write_grid(&path, images.view(), &layout.scale(usize::MAX)), "too large");
    assert_image_error(write_grid(&path, images.view(), &layout.gap(usize::MAX)), "too large");
    assert!(!path.exists(), "a failed write left a file");

    let missing_folder = dir.join("no-such-folder").join("x.png");
    assert!(matches!(
        write_grid(&missing_folder, images.view(), &layout),
        Err(Error::Io { .. })
    ));
}

#[test]
fn a_scatter_plot_has_the_asked_size_and_draws_each_class_in_its_colour_with_y_up() {
    let dir = scratch("scatter");
    let path = dir.join("scatter.png");
    // Class 3 at the bottom left, class 7 at the top right, class 13 (coloured as 3) in between.
    let points = array![[0.0_f32, 0.0], [10.0, 5.0], [5.0, 2.5]];
    let labels = Array1::from(vec![3_u8, 7, 13]);
    write_scatter(
        &path,
        points.view(),
        labels.view(),
        &ScatterStyle::new(320, 240).radius(3.0),
    )
    .unwrap();
    let picture = Picture::read(&path);
    assert_eq!((picture.width, picture.height, picture.channels), (320, 240, 3));
    assert_eq!(picture.rgb(0, 0), [255, 255, 255], "the background is white");

    let (low, high) = (picture.find(PALETTE[3]), picture.find(PALETTE[7]));
    assert!(!low.is_empty() && !high.is_empty());
    // The legend sits at the right, so the leftmost pixels of each colour are the data's discs.
    let leftmost = |pixels: &[(usize, usize)]| pixels.iter().map(|p| p.0).min().unwrap();
    let lowest = |pixels: &[(usize, usize)]| pixels.iter().map(|p| p.1).max().unwrap();
    assert!(leftmost(&low) < leftmost(&high), "x grows to the right");
    assert!(lowest(&low) > lowest(&high), "y grows upwards");
    // A disc of radius 3 covers about π·9 ≈ 28 pixels: two class-3 discs (classes 3 and 13) in the data, two in
    // the legend.
    assert!((90..=130).contains(&low.len()), "{} class-3 pixels", low.len());
    // No colour of a class that is not there.
    assert!(picture.find(PALETTE[0]).is_empty());
}

#[test]
fn a_scatter_plot_of_one_repeated_point_still_works() {
    let dir = scratch("scatter-one");
    let path = dir.join("one.png");
    let points = array![[2.0_f32, -1.0], [2.0, -1.0]];
    write_scatter(
        &path,
        points.view(),
        Array1::from(vec![0_u8, 0]).view(),
        &ScatterStyle::default(),
    )
    .unwrap();
    let picture = Picture::read(&path);
    assert_eq!((picture.width, picture.height), (800, 600));
    assert!(!picture.find(PALETTE[0]).is_empty());
}

#[test]
fn bad_scatter_plots_are_errors_that_name_the_problem() {
    let dir = scratch("bad-scatter");
    let path = dir.join("bad.png");
    let style = ScatterStyle::default();
    let points = array![[0.0_f32, 1.0], [2.0, 3.0]];
    let labels = Array1::from(vec![1_u8, 2]);
    let no_points = Array2::<f32>::zeros((0, 2));
    let no_labels = Array1::<u8>::zeros(0);
    assert_image_error(
        write_scatter(&path, no_points.view(), no_labels.view(), &style),
        "no points",
    );
    let three_columns = Array2::<f32>::zeros((2, 3));
    assert_image_error(
        write_scatter(&path, three_columns.view(), labels.view(), &style),
        "2 columns",
    );
    let one_label = Array1::from(vec![1_u8]);
    assert_image_error(
        write_scatter(&path, points.view(), one_label.view(), &style),
        "1 labels",
    );
    let nan = array![[0.0_f32, 1.0], [f32::NAN, 3.0]];
    assert_image_error(write_scatter(&path, nan.view(), labels.view(), &style), "point 1");
    let infinite = array![[f32::INFINITY, 1.0], [0.0, 3.0]];
    assert_image_error(write_scatter(&path, infinite.view(), labels.view(), &style), "point 0");
    for radius in [0.0, -1.0, f32::NAN] {
        assert_image_error(
            write_scatter(&path, points.view(), labels.view(), &style.radius(radius)),
            "radius",
        );
    }
    for (width, height) in [(0, 0), (30, 30), (800, 0)] {
        let small = ScatterStyle::new(width, height);
        assert_image_error(write_scatter(&path, points.view(), labels.view(), &small), "too small");
    }
    let huge = ScatterStyle::new(100_000, 100_000);
    assert_image_error(write_scatter(&path, points.view(), labels.view(), &huge), "pixels");
    assert!(!path.exists(), "a failed write left a file");
}

/// Sizes whose arithmetic overflows are [`Error::Image`]s, not panics (debug builds check overflow): a huge image
/// size, scale or gap, a label margin too wide, more rows than a size can count, a huge disc radius or picture.
#[test]
fn sizes_that_overflow_are_errors_not_panics() {
    let dir = scratch("overflow");
    let path = dir.join("overflow.png");
    let images = Array2::from_elem((2, 4), 0.5_f32);
    let huge_image = GridLayout::new(1 << 32, 1 << 32);
    assert_image_error(write_grid(&path, images.view(), &huge_image), "too large");
    let wide = GridLayout::new(2, 2).scale(1 << 60);
    assert_image_error(
        write_labelled_rows(&path, &[("label", images.view())], &wide),
        "too large",
    );
    let gap = GridLayout::new(2, 2).gap(usize::MAX / 2);
    assert_image_error(
        write_labelled_rows(&path, &[("label", images.view())], &gap),
        "too large",
    );
    // 17 sets of usize::MAX / 16 rows each (one image repeated by broadcasting), one per row: the row count overflows
    let one = Array1::from_elem(4, 0.5_f32);
    let many = one.broadcast((usize::MAX / 16, 4)).unwrap();
    let sets = vec![("", many); 17];
    assert_image_error(
        write_labelled_rows(&path, &sets, &GridLayout::new(2, 2).columns(1)),
        "too large",
    );

    let points = array![[0.0_f32, 1.0], [2.0, 3.0]];
    let labels = Array1::from(vec![1_u8, 2]);
    for radius in [1e30, f32::MAX, 1e6] {
        let style = ScatterStyle::default().radius(radius);
        assert_image_error(write_scatter(&path, points.view(), labels.view(), &style), "radius");
    }
    for (width, height) in [(usize::MAX, usize::MAX), (usize::MAX, 600), (800, usize::MAX)] {
        let style = ScatterStyle::new(width, height);
        assert_image_error(write_scatter(&path, points.view(), labels.view(), &style), "pixels");
    }
    assert!(!path.exists(), "a failed write left a file");

    // Extreme but finite coordinates still make a plot.
    let extreme = array![[f32::MAX, -f32::MAX], [-f32::MAX, f32::MAX], [f32::MIN_POSITIVE, 0.0]];
    let three = Array1::from(vec![0_u8, 1, 2]);
    write_scatter(&path, extreme.view(), three.view(), &ScatterStyle::default()).unwrap();
    assert_eq!(Picture::read(&path).width, 800);
}
