//! Pictures as PNG files: grids of grey or colour images (digits, photo patches, their reconstructions), one
//! picture from an `(h, w, c)` array ([`write_image`]) and scatter plots of 2-D points coloured by class (latent
//! codes). Grids draw grey images by default and RGB images (rows of RGB triples, HWC) with
//! [`GridLayout::channels`]`(3)`.
//!
//! ```
//! use autoencoder::image::{write_grid, write_labelled_rows, GridLayout};
//! use autoencoder::ndarray::Array2;
//!
//! // Twelve 28×28 images, one per row, pixels in [0, 1].
//! let images = Array2::from_shape_fn((12, 28 * 28), |(i, p)| ((i + p) % 28) as f32 / 27.0);
//! let dir = std::env::temp_dir().join(format!("autoencoder-image-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//!
//! let layout = GridLayout::new(28, 28).columns(6).scale(2);
//! write_grid(dir.join("grid.png"), images.view(), &layout)?; // 2 rows of 6
//! // originals above reconstructions, each band labelled at its left
//! let sets = [("input", images.view()), ("output", images.view())];
//! write_labelled_rows(dir.join("pairs.png"), &sets, &layout)?;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), autoencoder::Error>(())
//! ```
//!
//! [`data::png`](crate::data::png) reads such pictures back into arrays.
//!
//! Files are written atomically (a temporary file beside the target, then a rename), so a reader never sees a
//! half-written picture. The rename replaces what was at the path: a symbolic link is replaced (not written
//! through), and a read-only file in a writable folder is replaced too. Bad input (no images, a size of zero, a wrong column count, a NaN coordinate) is an
//! [`Error::Image`] that names the file, never a panic.

mod font;

use std::path::Path;

use ndarray::{ArrayView1, ArrayView2, ArrayView3};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomically;

/// The gray level (0 black, 255 white) of the gaps between the cells of a grid and of its label margin.
///
/// ```
/// use autoencoder::image::{GRID_BACKGROUND, GRID_TEXT};
/// assert!(GRID_BACKGROUND < GRID_TEXT); // light text on a darker background
/// ```
pub const GRID_BACKGROUND: u8 = 96;

/// The gray level of the labels' text in a grid.
///
/// ```
/// assert_eq!(autoencoder::image::GRID_TEXT, 255); // white
/// ```
pub const GRID_TEXT: u8 = 255;

/// The colour of class `c` in a scatter plot is `PALETTE[c % 10]`: matplotlib's "tab10" colours, ten hues that
/// stay distinct on a white background.
///
/// ```
/// use autoencoder::image::PALETTE;
/// assert_eq!(PALETTE[3], [214, 39, 40]); // class 3 (and 13, 23, ...) is red
/// ```
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],  // blue
    [255, 127, 14],  // orange
    [44, 160, 44],   // green
    [214, 39, 40],   // red
    [148, 103, 189], // purple
    [140, 86, 75],   // brown
    [227, 119, 194], // pink
    [127, 127, 127], // gray
    [188, 189, 34],  // olive
    [23, 190, 207],  // cyan
];

/// The largest picture written, in pixels (a guard against a scale or size typed wrong).
const MAX_PIXELS: usize = 1 << 26;

/// How a grid of images is laid out: the size of one image and its channels (1 grey, 3 RGB), the number of cells
/// per row, the gap between cells and a magnification.
///
/// A grid of `n` cells is `c = min(columns, n)` cells wide and `ceil(n / c)` cells tall. Each cell is the image
/// magnified `scale` times (every pixel becomes a `scale × scale` square), and `gap` background pixels separate
/// the cells from each other and from the border. With labels ([`write_labelled_rows`]) a margin as wide as the
/// longest label (6 × `scale` pixels a character, less one `scale`) plus one `gap` comes first on the left. So the
/// picture is `margin + gap + c × (image_cols × scale + gap)` pixels wide and `gap + rows × (image_rows × scale +
/// gap)` tall.
///
/// ```
/// use autoencoder::image::GridLayout;
/// let layout = GridLayout::new(28, 28).columns(8).gap(3).scale(2);
/// assert_eq!(layout.image_len(), 784);
/// assert_eq!(GridLayout::new(32, 32).channels(3).image_len(), 32 * 32 * 3); // RGB patches
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    image_rows: usize,
    image_cols: usize,
    channels: usize,
    columns: usize,
    gap: usize,
    scale: usize,
}

impl GridLayout {
    /// Grey images of `image_rows × image_cols` pixels (each a row of `image_rows * image_cols` values,
    /// row-major); 10 cells per row, a gap of 2 pixels, scale 1.
    ///
    /// ```
    /// let layout = autoencoder::image::GridLayout::new(28, 28);
    /// # let _ = layout;
    /// ```
    pub fn new(image_rows: usize, image_cols: usize) -> GridLayout {
        GridLayout {
            image_rows,
            image_cols,
            channels: 1,
            columns: 10,
            gap: 2,
            scale: 1,
        }
    }

    /// The channels of each image: 1 for grey (the default), 3 for RGB, whose rows hold each pixel's R, G and B
    /// together (HWC) and make the picture an RGB PNG. Drawing with any other count is an [`Error::Image`].
    ///
    /// ```
    /// let layout = autoencoder::image::GridLayout::new(32, 32).channels(3);
    /// assert_eq!(layout.image_len(), 3072);
    /// ```
    pub fn channels(mut self, channels: usize) -> GridLayout {
        self.channels = channels;
        self
    }

    /// The most cells in one row of the grid (default 10).
    ///
    /// ```
    /// let layout = autoencoder::image::GridLayout::new(28, 28).columns(16);
    /// # let _ = layout;
    /// ```
    pub fn columns(mut self, columns: usize) -> GridLayout {
        self.columns = columns;
        self
    }

    /// Background pixels between cells and around the grid (default 2; 0 is allowed).
    ///
    /// ```
    /// let layout = autoencoder::image::GridLayout::new(28, 28).gap(0);
    /// # let _ = layout;
    /// ```
    pub fn gap(mut self, gap: usize) -> GridLayout {
        self.gap = gap;
        self
    }

    /// The magnification: each image pixel becomes `scale × scale` picture pixels (default 1).
    ///
    /// ```
    /// let layout = autoencoder::image::GridLayout::new(28, 28).scale(3);
    /// # let _ = layout;
    /// ```
    pub fn scale(mut self, scale: usize) -> GridLayout {
        self.scale = scale;
        self
    }

    /// The number of values in one image, `image_rows * image_cols * channels` (`usize::MAX` when that
    /// overflows: no array has that many columns, and drawing such a layout is an error).
    ///
    /// ```
    /// assert_eq!(autoencoder::image::GridLayout::new(3, 4).image_len(), 12);
    /// ```
    pub fn image_len(&self) -> usize {
        self.image_rows
            .saturating_mul(self.image_cols)
            .saturating_mul(self.channels)
    }
}

/// Writes `images` (one image per row, values in `[0, 1]`) as one PNG grid, row by row: grey, or RGB when the
/// layout has 3 [`channels`](GridLayout::channels).
///
/// Values are clamped to `[0, 1]` and NaN is drawn as 0 (black); 0 is black and 1 white (or full intensity).
///
/// # Errors
/// [`Error::Image`] when there are no images, a layout size is zero, the channels are neither 1 nor 3, the column
/// count is not [`GridLayout::image_len`], or the picture would be larger than 2²⁶ pixels (or its size
/// overflows); [`Error::Io`] when the file cannot be written.
///
/// ```
/// use autoencoder::image::{write_grid, GridLayout};
/// use autoencoder::ndarray::Array2;
/// let path = std::env::temp_dir().join(format!("autoencoder-grid-doc-{}.png", std::process::id()));
/// let images = Array2::from_elem((3, 4), 0.5_f32); // three 2×2 images
/// write_grid(&path, images.view(), &GridLayout::new(2, 2))?;
/// assert!(write_grid(&path, Array2::zeros((0, 4)).view(), &GridLayout::new(2, 2)).is_err());
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn write_grid(path: impl AsRef<Path>, images: ArrayView2<f32>, layout: &GridLayout) -> Result<()> {
    write_labelled_rows(path, &[("", images)], layout)
}

/// Writes several sets of images as bands of rows in one PNG (grey, or RGB with 3 channels), each band starting a
/// new row and labelled at its left (for example originals above reconstructions). Empty labels draw no text;
/// when every label is empty there is no label margin. Pixels as in [`write_grid`]; the layout is described at
/// [`GridLayout`].
///
/// # Errors
/// As [`write_grid`], and when there are no sets or a set has no images.
///
/// ```
/// use autoencoder::image::{write_labelled_rows, GridLayout};
/// use autoencoder::ndarray::Array2;
/// let path = std::env::temp_dir().join(format!("autoencoder-rows-doc-{}.png", std::process::id()));
/// let (noisy, clean) = (Array2::from_elem((5, 9), 0.7_f32), Array2::from_elem((5, 9), 0.2_f32));
/// write_labelled_rows(&path, &[("noisy", noisy.view()), ("clean", clean.view())], &GridLayout::new(3, 3))?;
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn write_labelled_rows(
    path: impl AsRef<Path>,
    sets: &[(&str, ArrayView2<f32>)],
    layout: &GridLayout,
) -> Result<()> {
    let path = path.as_ref();
    let fail = |message: String| Err(image_error(path, message));
    let GridLayout {
        image_rows,
        image_cols,
        channels,
        columns,
        gap,
        scale,
    } = *layout;
    if channels != 1 && channels != 3 {
        return fail(format!("images must have 1 channel (grey) or 3 (RGB), not {channels}"));
    }
    if image_rows == 0 || image_cols == 0 || columns == 0 || scale == 0 {
        return fail(format!(
            "the image size ({image_rows}×{image_cols}), columns ({columns}) and scale ({scale}) must all be \
             at least 1"
        ));
    }
    if sets.is_empty() {
        return fail("no images to draw".into());
    }
    if image_rows
        .checked_mul(image_cols)
        .and_then(|pixels| pixels.checked_mul(channels))
        .is_none()
    {
        return fail(format!(
            "images of {image_rows}×{image_cols} pixels are too large to draw"
        ));
    }
    for (label, images) in sets {
        if images.nrows() == 0 {
            return fail(format!("the set {label:?} has no images"));
        }
        if images.ncols() != layout.image_len() {
            return fail(format!(
                "the set {label:?} has {} values per image, but {image_rows}×{image_cols} images of {channels} \
                 channel(s) need {}",
                images.ncols(),
                layout.image_len()
            ));
        }
    }

    let columns = columns.min(sets.iter().map(|(_, images)| images.nrows()).max().unwrap_or(1));
    let band_rows: Vec<usize> = sets
        .iter()
        .map(|(_, images)| images.nrows().div_ceil(columns))
        .collect();
    let longest_label = sets.iter().map(|(label, _)| font::text_width(label)).max().unwrap_or(0);
    let rows = band_rows.iter().try_fold(0_usize, |sum, &rows| sum.checked_add(rows));
    let Some(grid) = rows.and_then(|rows| GridGeometry::new(layout, columns, rows, longest_label)) else {
        return fail(format!(
            "a grid of {columns} columns, gap {gap} and scale {scale} is too large to draw"
        ));
    };
    let GridGeometry {
        cell_width,
        cell_height,
        margin,
        width,
        height,
    } = grid;
    let mut canvas = Canvas::new(path, width, height, channels, [GRID_BACKGROUND; 3])?;

    let mut first_row = 0;
    for ((label, images), rows) in sets.iter().zip(&band_rows) {
        for (i, image) in images.rows().into_iter().enumerate() {
            let x0 = margin + gap + (i % columns) * (cell_width + gap);
            let y0 = gap + (first_row + i / columns) * (cell_height + gap);
            for (p, pixel) in image.exact_chunks(channels).into_iter().enumerate() {
                let (y, x) = (p / image_cols, p % image_cols);
                canvas.fill_rect(x0 + x * scale, y0 + y * scale, scale, scale, pixel_colour(pixel));
            }
        }
        let text_height = font::GLYPH_HEIGHT * scale;
        let y = gap + first_row * (cell_height + gap) + cell_height.saturating_sub(text_height) / 2;
        canvas.text(gap, y, label, scale, [GRID_TEXT; 3]);
        first_row += rows;
    }
    canvas.write_png(path)
}

/// Writes one picture, an `(h, w, c)` array of values in `[0, 1]` with `c` = 1 (grey) or 3 (RGB), as an 8-bit
/// grey or RGB PNG of `w × h` pixels. Values are clamped to `[0, 1]` and NaN is drawn as 0.
///
/// # Errors
/// [`Error::Image`] when `c` is neither 1 nor 3, a side is zero or the picture is larger than 2²⁶ pixels;
/// [`Error::Io`] when the file cannot be written.
///
/// ```
/// use autoencoder::image::write_image;
/// use autoencoder::ndarray::Array3;
/// let path = std::env::temp_dir().join(format!("autoencoder-write-image-doc-{}.png", std::process::id()));
/// // A red-to-green ramp, 4 tall and 8 wide.
/// let ramp = Array3::from_shape_fn((4, 8, 3), |(_, x, k)| match k {
///     0 => 1.0 - x as f32 / 7.0,
///     1 => x as f32 / 7.0,
///     _ => 0.0,
/// });
/// write_image(&path, ramp.view())?;
/// assert!(write_image(&path, Array3::zeros((4, 8, 2)).view()).is_err()); // 2 channels
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn write_image(path: impl AsRef<Path>, image: ArrayView3<f32>) -> Result<()> {
    let path = path.as_ref();
    let (height, width, channels) = image.dim();
    if channels != 1 && channels != 3 {
        return Err(image_error(
            path,
            format!("a picture must have 1 channel (grey) or 3 (RGB), not {channels}"),
        ));
    }
    if width == 0 || height == 0 {
        return Err(image_error(
            path,
            format!("a picture of {height}×{width} (h×w) has no pixels"),
        ));
    }
    let mut canvas = Canvas::new(path, width, height, channels, [0; 3])?;
    for y in 0..height {
        for x in 0..width {
            canvas.put(x, y, pixel_colour(image.slice(ndarray::s![y, x, ..])));
        }
    }
    canvas.write_png(path)
}

/// The sizes in pixels of a grid's cells, label margin and picture.
struct GridGeometry {
    cell_width: usize,
    cell_height: usize,
    margin: usize,
    width: usize,
    height: usize,
}

impl GridGeometry {
    /// The geometry of `rows` rows of `columns` cells with a label margin for `label_width` font pixels; `None`
    /// when a size overflows.
    fn new(layout: &GridLayout, columns: usize, rows: usize, label_width: usize) -> Option<GridGeometry> {
        let gap = layout.gap;
        let cell_width = layout.image_cols.checked_mul(layout.scale)?;
        let cell_height = layout.image_rows.checked_mul(layout.scale)?;
        let margin = match label_width {
            0 => 0,
            _ => label_width.checked_mul(layout.scale)?.checked_add(gap)?,
        };
        let width = columns
            .checked_mul(cell_width.checked_add(gap)?)?
            .checked_add(margin)?
            .checked_add(gap)?;
        let height = rows.checked_mul(cell_height.checked_add(gap)?)?.checked_add(gap)?;
        Some(GridGeometry {
            cell_width,
            cell_height,
            margin,
            width,
            height,
        })
    }
}

/// How a scatter plot looks: its size in pixels (the legend included) and the radius of the discs.
///
/// The plot fits its axes to the data, with 5% of the data's range as a margin on every side, larger `y` up;
/// the smallest and largest value of each axis are written at the frame's corners, and a legend on the right
/// shows each class present with its colour from [`PALETTE`].
///
/// ```
/// let style = autoencoder::image::ScatterStyle::new(1000, 800).radius(1.5);
/// # let _ = style;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScatterStyle {
    width: usize,
    height: usize,
    radius: f32,
}

impl Default for ScatterStyle {
    /// 800 × 600 pixels, discs of radius 2.5.
    fn default() -> ScatterStyle {
        ScatterStyle::new(800, 600)
    }
}

impl ScatterStyle {
    /// A picture of `width × height` pixels, discs of radius 2.5.
    ///
    /// ```
    /// let style = autoencoder::image::ScatterStyle::new(640, 480);
    /// # let _ = style;
    /// ```
    pub fn new(width: usize, height: usize) -> ScatterStyle {
        ScatterStyle {
            width,
            height,
            radius: 2.5,
        }
    }

    /// The radius of each point's disc in pixels.
    ///
    /// ```
    /// let style = autoencoder::image::ScatterStyle::default().radius(4.0);
    /// # let _ = style;
    /// ```
    pub fn radius(mut self, radius: f32) -> ScatterStyle {
        self.radius = radius;
        self
    }
}

/// Writes a colour (RGB) PNG scatter plot of `points` (shape `(n, 2)`: x, y) with the class `labels[i]` of each
/// point as its colour, `PALETTE[label % 10]`. Points are drawn in order, later ones on top.
///
/// # Errors
/// [`Error::Image`] when there are no points, `points` does not have 2 columns, the label count differs from the
/// point count, a coordinate is NaN or infinite, the radius is not positive or its disc is wider than the picture,
/// or the picture is too small to hold a plot (or larger than 2²⁶ pixels); [`Error::Io`] when the file cannot be
/// written.
///
/// ```
/// use autoencoder::image::{write_scatter, ScatterStyle};
/// use autoencoder::ndarray::{array, Array1};
/// let path = std::env::temp_dir().join(format!("autoencoder-scatter-doc-{}.png", std::process::id()));
/// let points = array![[0.0_f32, 0.0], [1.0, 2.0], [2.0, 1.0]];
/// let labels = Array1::from(vec![0_u8, 1, 1]);
/// write_scatter(&path, points.view(), labels.view(), &ScatterStyle::default())?;
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn write_scatter(
    path: impl AsRef<Path>,
    points: ArrayView2<f32>,
    labels: ArrayView1<u8>,
    style: &ScatterStyle,
) -> Result<()> {
    let path = path.as_ref();
    let fail = |message: String| Err(image_error(path, message));
    if points.ncols() != 2 {
        return fail(format!(
            "a scatter plot needs points with 2 columns, found {}",
            points.ncols()
        ));
    }
    if points.nrows() == 0 {
        return fail("no points to plot".into());
    }
    if labels.len() != points.nrows() {
        return fail(format!("{} points but {} labels", points.nrows(), labels.len()));
    }
    if let Some((i, point)) = points
        .rows()
        .into_iter()
        .enumerate()
        .find(|(_, p)| !p.iter().all(|v| v.is_finite()))
    {
        return fail(format!(
            "point {i} has a non-finite coordinate: ({}, {})",
            point[0], point[1]
        ));
    }
    if !(style.radius.is_finite() && style.radius > 0.0) {
        return fail(format!("the radius must be positive, got {}", style.radius));
    }
    if style.width == 0 || style.height == 0 {
        return fail(format!(
            "{}×{} pixels is too small for a scatter plot",
            style.width, style.height
        ));
    }
    // A disc wider than the picture shows nothing useful; the limit also keeps the sizes below from overflowing.
    if f64::from(style.radius) * 2.0 > style.width.max(style.height) as f64 {
        return fail(format!(
            "the radius {} is too large for a picture of {}×{} pixels",
            style.radius, style.width, style.height
        ));
    }
    if style
        .width
        .checked_mul(style.height)
        .is_none_or(|pixels| pixels > MAX_PIXELS)
    {
        return fail(format!(
            "cannot make a picture of {}×{} pixels (at most {MAX_PIXELS} in all)",
            style.width, style.height
        ));
    }

    let x_axis = Axis::fitted(points.column(0));
    let y_axis = Axis::fitted(points.column(1));
    let (width, height) = (style.width, style.height);
    // Text twice as large on pictures big enough for it.
    let text_scale = if width.min(height) >= 400 { 2 } else { 1 };
    let pad = 4 * text_scale;
    let text_height = font::GLYPH_HEIGHT * text_scale;
    let text_width = |text: &str| font::text_width(text) * text_scale;
    let (x_low, x_high) = (axis_number(x_axis.low), axis_number(x_axis.high));
    let (y_low, y_high) = (axis_number(y_axis.low), axis_number(y_axis.high));

    let mut classes: Vec<u8> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let legend_radius = style.radius.max(3.0 * text_scale as f32);
    let legend_line = (2.0 * legend_radius).ceil() as usize + text_height / 2 + pad;
    let legend_text = classes.iter().map(|c| text_width(&c.to_string())).max().unwrap_or(0);
    let legend_width = pad + (2.0 * legend_radius).ceil() as usize + pad + legend_text + pad;

    // The frame: left, top, right, bottom.
    let left = pad + text_width(&y_low).max(text_width(&y_high)) + pad;
    let top = pad + text_height;
    let right = width.saturating_sub(legend_width + pad);
    let bottom = height.saturating_sub(pad + text_height + pad);
    if right < left + 16 || bottom < top + 16 {
        return fail(format!("{width}×{height} pixels is too small for a scatter plot"));
    }
    let mut canvas = Canvas::new(path, width, height, 3, [255; 3])?;

    let frame = [170; 3];
    canvas.fill_rect(left, top, right - left + 1, 1, frame);
    canvas.fill_rect(left, bottom, right - left + 1, 1, frame);
    canvas.fill_rect(left, top, 1, bottom - top + 1, frame);
    canvas.fill_rect(right, top, 1, bottom - top + 1, frame);
    let ink = [60; 3];
    let below_frame = bottom + pad;
    canvas.text(left, below_frame, &x_low, text_scale, ink);
    canvas.text(
        (right + 1).saturating_sub(text_width(&x_high)),
        below_frame,
        &x_high,
        text_scale,
        ink,
    );
    canvas.text(left - pad - text_width(&y_high), top, &y_high, text_scale, ink);
    canvas.text(
        left - pad - text_width(&y_low),
        (bottom + 1).saturating_sub(text_height),
        &y_low,
        text_scale,
        ink,
    );

    let (plot_width, plot_height) = ((right - left) as f32, (bottom - top) as f32);
    for (point, &label) in points.rows().into_iter().zip(labels) {
        let x = left as f32 + x_axis.fraction(point[0]) * plot_width;
        let y = bottom as f32 - y_axis.fraction(point[1]) * plot_height;
        canvas.disc(
            x + 0.5,
            y + 0.5,
            style.radius,
            PALETTE[usize::from(label) % PALETTE.len()],
        );
    }

    let legend_left = right + pad;
    for (i, &class) in classes.iter().enumerate() {
        let centre_y = top + i * legend_line + legend_line / 2;
        if centre_y + legend_line / 2 > height {
            break; // more classes than fit: the colours repeat anyway
        }
        let disc_x = legend_left as f32 + pad as f32 + legend_radius;
        canvas.disc(
            disc_x,
            centre_y as f32,
            legend_radius,
            PALETTE[usize::from(class) % PALETTE.len()],
        );
        let text_x = legend_left + pad + (2.0 * legend_radius).ceil() as usize + pad;
        canvas.text(
            text_x,
            centre_y.saturating_sub(text_height / 2),
            &class.to_string(),
            text_scale,
            ink,
        );
    }
    canvas.write_png(path)
}

/// One axis of a scatter plot: the data's range widened by 5% on each side. In `f64`, where the span of any
/// finite `f32` values is finite and a margin around a large value does not round away.
struct Axis {
    low: f64,
    high: f64,
}

impl Axis {
    /// The axis for these (finite) values; when they are all equal, a range of ±1 around them (±5% of the value
    /// when that is larger).
    fn fitted(values: ArrayView1<f32>) -> Axis {
        let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(f64::from(v)), hi.max(f64::from(v)))
        });
        let span = max - min;
        let margin = if span > 0.0 {
            0.05 * span
        } else {
            (0.05 * max.abs()).max(1.0)
        };
        Axis {
            low: min - margin,
            high: max + margin,
        }
    }

    /// Where `value` lies between `low` (0) and `high` (1).
    fn fraction(&self, value: f32) -> f32 {
        ((f64::from(value) - self.low) / (self.high - self.low)) as f32
    }
}

/// An axis value short enough for a corner of the frame.
fn axis_number(value: f64) -> String {
    let size = value.abs();
    if size != 0.0 && !(1e-2..1e4).contains(&size) {
        format!("{value:.1e}")
    } else {
        format!("{value:.2}")
    }
}

/// The colour of a pixel of 1 (grey) or 3 (RGB) values.
fn pixel_colour(pixel: ArrayView1<f32>) -> [u8; 3] {
    match pixel.len() {
        3 => [pixel_value(pixel[0]), pixel_value(pixel[1]), pixel_value(pixel[2])],
        _ => [pixel_value(pixel[0]); 3],
    }
}

/// A gray level from a pixel value: clamped to [0, 1], NaN as 0.
fn pixel_value(value: f32) -> u8 {
    if value.is_nan() {
        0
    } else {
        (value.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

fn image_error(path: &Path, message: String) -> Error {
    Error::Image {
        path: path.to_path_buf(),
        message,
    }
}

/// Pixels in memory: `channels` bytes (1 gray, 3 RGB) per pixel, row by row.
struct Canvas {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `colour` (its first component, for gray). Errors when a side is zero or the picture is
    /// too large.
    fn new(path: &Path, width: usize, height: usize, channels: usize, colour: [u8; 3]) -> Result<Canvas> {
        let pixels = width.checked_mul(height).filter(|&p| p <= MAX_PIXELS);
        match pixels {
            Some(pixels) if pixels > 0 => Ok(Canvas {
                width,
                height,
                channels,
                pixels: colour[..channels].repeat(pixels),
            }),
            _ => Err(image_error(
                path,
                format!("cannot make a picture of {width}×{height} pixels (at most {MAX_PIXELS} in all)"),
            )),
        }
    }

    /// Sets one pixel; outside the canvas does nothing.
    fn put(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < self.width && y < self.height {
            let at = (y * self.width + x) * self.channels;
            self.pixels[at..at + self.channels].copy_from_slice(&colour[..self.channels]);
        }
    }

    fn fill_rect(&mut self, x: usize, y: usize, width: usize, height: usize, colour: [u8; 3]) {
        for row in y..y.saturating_add(height).min(self.height) {
            for column in x..x.saturating_add(width).min(self.width) {
                self.put(column, row, colour);
            }
        }
    }

    /// Draws `text` with its top-left corner at `(x, y)`, each font pixel a `scale × scale` square.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, colour: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let glyph_x = x + i * font::ADVANCE * scale;
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for column in 0..font::GLYPH_WIDTH {
                    if bits & (1 << (font::GLYPH_WIDTH - 1 - column)) != 0 {
                        self.fill_rect(glyph_x + column * scale, y + row * scale, scale, scale, colour);
                    }
                }
            }
        }
    }

    /// Fills the pixels whose centres lie within `radius` of `(cx, cy)` (pixel `(x, y)` spans `x..x + 1`).
    fn disc(&mut self, cx: f32, cy: f32, radius: f32, colour: [u8; 3]) {
        let first = |centre: f32| (centre - radius).floor().max(0.0) as usize;
        let last = |centre: f32| (centre + radius).ceil().max(0.0) as usize;
        for y in first(cy)..=last(cy).min(self.height) {
            for x in first(cx)..=last(cx).min(self.width) {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= radius * radius {
                    self.put(x, y, colour);
                }
            }
        }
    }

    fn write_png(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::new();
        let colour = if self.channels == 1 {
            png::ColorType::Grayscale
        } else {
            png::ColorType::Rgb
        };
        let encode_error = |e: png::EncodingError| image_error(path, e.to_string());
        // Both sides are at most MAX_PIXELS, far below u32::MAX.
        let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
        encoder.set_color(colour);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(encode_error)?;
        writer.write_image_data(&self.pixels).map_err(encode_error)?;
        writer.finish().map_err(encode_error)?;
        write_atomically(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_values_are_clamped_and_nan_is_black() {
        assert_eq!(pixel_value(f32::NAN), 0);
        assert_eq!(pixel_value(-3.0), 0);
        assert_eq!(pixel_value(7.0), 255);
        assert_eq!(pixel_value(0.5), 128);
        assert_eq!(pixel_value(f32::INFINITY), 255);
    }

    #[test]
    fn an_axis_of_one_value_spans_two_units_around_it() {
        let axis = Axis::fitted(ndarray::arr1(&[3.0_f32, 3.0]).view());
        assert_eq!((axis.low, axis.high), (2.0, 4.0));
        let axis = Axis::fitted(ndarray::arr1(&[0.0_f32, 10.0]).view());
        assert_eq!((axis.low, axis.high), (-0.5, 10.5));
        assert_eq!(axis.fraction(-0.5), 0.0);
    }

    #[test]
    fn axes_of_extreme_or_equal_large_values_place_every_point_inside() {
        // Equal values of 1e8 once got a range of ±1, which rounds away in f32: every point was NaN and vanished.
        for values in [[1e8_f32, 1e8], [-f32::MAX, f32::MAX], [f32::MAX, f32::MAX]] {
            let axis = Axis::fitted(ndarray::arr1(&values).view());
            for v in values {
                let fraction = axis.fraction(v);
                assert!((0.0..=1.0).contains(&fraction), "{values:?}: {v} at {fraction}");
            }
        }
    }

    #[test]
    fn axis_numbers_stay_short() {
        assert_eq!(axis_number(1.234), "1.23");
        assert_eq!(axis_number(0.0), "0.00");
        assert_eq!(axis_number(-123456.0), "-1.2e5");
    }
}
