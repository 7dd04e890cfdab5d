//! Thumbnails, previews and mini previews of uploaded images, sized as Mattermost makes them:
//! a thumbnail covering 120×100, a preview at most 1920 wide, a 16×16 mini preview; all JPEG.
//!
//! Pure computation on bytes already in memory, and CPU-heavy: callers run [`render`] on the
//! blocking pool, a bounded number at once (`FileSettings.MaxImageDecoderConcurrency`).
//! Memory is bounded per image: dimensions are read from the header and an image of more than
//! `max_pixels` (`FileSettings.MaxImageResolution`) is refused before decoding; the decoder may
//! allocate at most 4 bytes a pixel (so a 16-bit or otherwise heavier image of the largest size
//! is refused rather than decoded); and rendering works on that one buffer — transparency is
//! flattened in place, downscaling reads the full image without intermediate copies — so an
//! image costs about its decoded size once (≈ 133 MB at Mattermost's default 7680×4320).

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits, RgbImage};
use std::io::Cursor;

pub const THUMBNAIL_WIDTH: u32 = 120;
pub const THUMBNAIL_HEIGHT: u32 = 100;
pub const PREVIEW_WIDTH: u32 = 1920;
pub const MINI_PREVIEW_SIZE: u32 = 16;
/// Mattermost's default `FileSettings.MaxImageResolution` (7680×4320): larger images are
/// stored but get no previews.
pub const MAX_IMAGE_PIXELS: u64 = 7680 * 4320;
const JPEG_QUALITY: u8 = 90;
/// Decoder allocation cap per pixel allowed: 8-bit RGBA.
const MAX_DECODED_BYTES_PER_PIXEL: u64 = 4;
/// What a decoder needs besides its output (row buffers, palettes, zlib state).
const DECODER_WORKING_BYTES: u64 = 16 * 1024 * 1024;

/// Extensions whose previews we render (the formats this build decodes).
pub fn is_previewable(extension: &str) -> bool {
    matches!(extension, "png" | "jpg" | "jpeg" | "gif")
}

/// Width and height read from the start of an image (its header), without decoding it.
pub fn dimensions(head: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(head))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// The renditions of one image.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Bytes,
    pub preview: Bytes,
    pub mini_preview: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image is {width}x{height}, more than {max_pixels} pixels")]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("cannot decode image: {0}")]
    Decode(String),
    #[error("cannot encode JPEG: {0}")]
    Encode(String),
}

/// Decodes an image of at most `max_pixels` pixels and renders its thumbnail, preview and
/// mini preview.
pub fn render(content: &[u8], max_pixels: u64) -> Result<Rendered, ImageError> {
    let open = || {
        ImageReader::new(Cursor::new(content))
            .with_guessed_format()
            .map_err(|error| ImageError::Decode(error.to_string()))
    };
    let (width, height) = open()?
        .into_dimensions()
        .map_err(|error| ImageError::Decode(error.to_string()))?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max_pixels,
        });
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        u64::from(width) * u64::from(height) * MAX_DECODED_BYTES_PER_PIXEL + DECODER_WORKING_BYTES,
    );
    let mut reader = open()?;
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|error| ImageError::Decode(error.to_string()))?;
    let flattened = flatten_on_white(decoded);

    let preview = if flattened.width() > PREVIEW_WIDTH {
        let preview_height = scaled(flattened.height(), PREVIEW_WIDTH, flattened.width());
        Some(shrink(&flattened, PREVIEW_WIDTH, preview_height))
    } else {
        None
    };
    let preview_source = preview.as_ref().unwrap_or(&flattened);
    let preview_jpeg = encode_jpeg(preview_source)?;
    // The preview has the image's proportions: the smaller renditions come from it.
    let thumbnail = thumbnail_of(preview_source);
    let mini = shrink_to_fill(preview_source, MINI_PREVIEW_SIZE, MINI_PREVIEW_SIZE);
    Ok(Rendered {
        width,
        height,
        thumbnail: Bytes::from(encode_jpeg(&thumbnail)?),
        preview: Bytes::from(preview_jpeg),
        mini_preview: encode_jpeg(&mini)?,
    })
}

/// `length` scaled by `numerator / denominator`, rounded, at least 1.
fn scaled(length: u32, numerator: u32, denominator: u32) -> u32 {
    let exact = (u64::from(length) * u64::from(numerator) * 2 + u64::from(denominator))
        / (u64::from(denominator) * 2);
    exact.clamp(1, u64::from(u32::MAX)) as u32
}

/// Resizes to exactly `width`×`height`: a box filter reading the source directly when
/// shrinking (no intermediate image as large as the source), a triangle filter when growing.
/// (`DynamicImage`'s methods, not the generic `imageops` ones: those would be compiled, and
/// unoptimised in tests, in this crate.)
fn shrink(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    if width <= image.width() && height <= image.height() {
        image.thumbnail_exact(width, height)
    } else {
        image.resize_exact(width, height, FilterType::Triangle)
    }
}

/// Scales to cover `width`×`height` and crops the middle, as `resize_to_fill` does.
pub(crate) fn shrink_to_fill(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let wider_than_box =
        u64::from(image.width()) * u64::from(height) > u64::from(width) * u64::from(image.height());
    let (cover_width, cover_height) = if wider_than_box {
        (scaled(image.width(), height, image.height()), height)
    } else {
        (width, scaled(image.height(), width, image.width()))
    };
    let covering = shrink(image, cover_width.max(width), cover_height.max(height));
    let left = (covering.width() - width) / 2;
    let top = (covering.height() - height) / 2;
    covering.crop_imm(left, top, width, height)
}

/// Mattermost's rule: an image smaller than the box is kept; otherwise it is scaled so that it
/// covers the box (the height fits a wide image, the width a tall one).
fn thumbnail_of(image: &DynamicImage) -> DynamicImage {
    let (width, height) = (image.width(), image.height());
    if width < THUMBNAIL_WIDTH && height < THUMBNAIL_HEIGHT {
        return image.clone();
    }
    let wider_than_box = u64::from(height) * u64::from(THUMBNAIL_WIDTH)
        < u64::from(THUMBNAIL_HEIGHT) * u64::from(width);
    if wider_than_box {
        shrink(
            image,
            scaled(width, THUMBNAIL_HEIGHT, height),
            THUMBNAIL_HEIGHT,
        )
    } else {
        shrink(
            image,
            THUMBNAIL_WIDTH,
            scaled(height, THUMBNAIL_WIDTH, width),
        )
    }
}

/// JPEG has no alpha: transparent pixels become white rather than whatever colour they hide.
/// An 8-bit RGBA image is flattened in its own buffer (blended, then packed to RGB in place),
/// so the largest image allowed is never held twice.
fn flatten_on_white(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.into_rgb8());
    }
    let (width, height) = (image.width(), image.height());
    let mut pixels = image.into_rgba8().into_raw();
    let pixel_count = pixels.len() / 4;
    for index in 0..pixel_count {
        let alpha = u16::from(pixels[index * 4 + 3]);
        for channel in 0..3 {
            let value = u16::from(pixels[index * 4 + channel]);
            // Writes land at or before the pixel being read, never on one still to be read.
            pixels[index * 3 + channel] = ((value * alpha + 255 * (255 - alpha)) / 255) as u8;
        }
    }
    pixels.truncate(pixel_count * 3);
    pixels.shrink_to_fit();
    DynamicImage::ImageRgb8(
        RgbImage::from_raw(width, height, pixels).expect("three bytes for each pixel"),
    )
}

fn encode_jpeg(image: &DynamicImage) -> Result<Vec<u8>, ImageError> {
    let mut encoded = Vec::new();
    let encoder = JpegEncoder::new_with_quality(&mut encoded, JPEG_QUALITY);
    image
        .write_with_encoder(encoder)
        .map_err(|error| ImageError::Encode(error.to_string()))?;
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                128,
                if x < 5 { 0 } else { 255 },
            ])
        });
        let mut encoded = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_to(&mut Cursor::new(&mut encoded), image::ImageFormat::Png)
            .expect("encoding a png");
        encoded
    }

    fn render_default(content: &[u8]) -> Result<Rendered, ImageError> {
        render(content, MAX_IMAGE_PIXELS)
    }

    fn size_of(jpeg: &[u8]) -> (u32, u32) {
        dimensions(jpeg).expect("a decodable jpeg")
    }

    #[test]
    fn wide_image_thumbnail_covers_the_box_and_preview_is_capped() {
        let rendered = render_default(&png(4000, 1000)).expect("render");
        assert_eq!((rendered.width, rendered.height), (4000, 1000));
        assert_eq!(size_of(&rendered.thumbnail), (400, 100));
        assert_eq!(size_of(&rendered.preview), (1920, 480));
        assert_eq!(size_of(&rendered.mini_preview), (16, 16));
    }

    #[test]
    fn tall_image_thumbnail_fits_the_width() {
        let rendered = render_default(&png(300, 900)).expect("render");
        assert_eq!(size_of(&rendered.thumbnail), (120, 360));
        assert_eq!(size_of(&rendered.preview), (300, 900));
    }

    #[test]
    fn small_image_is_kept_as_is() {
        let rendered = render_default(&png(50, 40)).expect("render");
        assert_eq!(size_of(&rendered.thumbnail), (50, 40));
        assert_eq!(size_of(&rendered.preview), (50, 40));
    }

    #[test]
    fn dimensions_come_from_the_header_alone() {
        let encoded = png(640, 480);
        assert_eq!(dimensions(&encoded[..64]), Some((640, 480)));
        assert_eq!(dimensions(b"not an image at all"), None);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            render_default(b"\x89PNG\r\n\x1a\nbroken"),
            Err(ImageError::Decode(_))
        ));
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn huge_dimensions_are_refused_before_decoding() {
        // A valid PNG header claiming 100000×100000 pixels, with no pixel data.
        let mut header = png(1, 1);
        header[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        header[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let checksum = crc32(&header[12..29]);
        header[29..33].copy_from_slice(&checksum.to_be_bytes());
        assert!(matches!(
            render_default(&header),
            Err(ImageError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn transparent_pixels_become_white_and_opaque_ones_keep_their_colour() {
        // Columns 0..5 are transparent; the rest opaque (x % 256, y % 256, 128).
        let flattened =
            flatten_on_white(image::load_from_memory(&png(10, 2)).expect("decoding the png"));
        let flattened = flattened.as_rgb8().expect("an RGB image");
        assert_eq!(flattened.get_pixel(0, 1).0, [255, 255, 255]);
        assert_eq!(flattened.get_pixel(7, 1).0, [7, 1, 128]);
        assert_eq!(flattened.as_raw().len(), 10 * 2 * 3);
    }

    #[test]
    fn images_over_the_configured_resolution_are_refused() {
        assert!(matches!(
            render(&png(300, 200), 300 * 200 - 1),
            Err(ImageError::TooManyPixels { max_pixels, .. }) if max_pixels == 300 * 200 - 1
        ));
        assert!(render(&png(300, 200), 300 * 200).is_ok());
    }

    #[test]
    fn sixteen_bit_images_are_not_decoded_past_four_bytes_a_pixel() {
        // 4096×4096 RGBA16 decodes to 128 MiB, twice what its pixel count allows.
        let image = image::ImageBuffer::<Rgba<u16>, Vec<u16>>::new(4096, 4096);
        let mut encoded = Vec::new();
        DynamicImage::ImageRgba16(image)
            .write_to(&mut Cursor::new(&mut encoded), image::ImageFormat::Png)
            .expect("encoding a png");
        assert!(matches!(
            render(&encoded, MAX_IMAGE_PIXELS),
            Err(ImageError::Decode(_))
        ));
    }

    #[test]
    fn mini_preview_crops_the_middle_to_a_square() {
        let rendered = render_default(&png(640, 160)).expect("render");
        assert_eq!(size_of(&rendered.mini_preview), (16, 16));
        assert_eq!(size_of(&rendered.thumbnail), (400, 100));
    }
}
