//! Thumbnails, previews and mini previews of uploaded images, sized as Mattermost makes them:
//! a thumbnail covering 120×100, a preview at most 1920 wide, a 16×16 mini preview; all JPEG.
//!
//! Pure computation on bytes already in memory, and CPU-heavy: callers run [`render`] on the
//! blocking pool. Decoding is bounded ([`MAX_IMAGE_PIXELS`], an allocation cap) so a small
//! file that claims huge dimensions cannot exhaust memory.

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits, Rgba, RgbaImage};
use std::io::Cursor;

pub const THUMBNAIL_WIDTH: u32 = 120;
pub const THUMBNAIL_HEIGHT: u32 = 100;
pub const PREVIEW_WIDTH: u32 = 1920;
pub const MINI_PREVIEW_SIZE: u32 = 16;
/// Mattermost's default `FileSettings.MaxImageResolution` (7680×4320): larger images are
/// stored but get no previews.
pub const MAX_IMAGE_PIXELS: u64 = 7680 * 4320;
const JPEG_QUALITY: u8 = 90;
/// Decoder allocation cap: the largest allowed image as RGBA with room to spare.
const MAX_DECODE_ALLOCATION: u64 = MAX_IMAGE_PIXELS * 4 * 2;

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
    #[error("image is {width}x{height}, more than {MAX_IMAGE_PIXELS} pixels")]
    TooManyPixels { width: u32, height: u32 },
    #[error("cannot decode image: {0}")]
    Decode(String),
    #[error("cannot encode JPEG: {0}")]
    Encode(String),
}

/// Decodes an image and renders its thumbnail, preview and mini preview.
pub fn render(content: &[u8]) -> Result<Rendered, ImageError> {
    let open = || {
        ImageReader::new(Cursor::new(content))
            .with_guessed_format()
            .map_err(|error| ImageError::Decode(error.to_string()))
    };
    let (width, height) = open()?
        .into_dimensions()
        .map_err(|error| ImageError::Decode(error.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageError::TooManyPixels { width, height });
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOCATION);
    let mut reader = open()?;
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|error| ImageError::Decode(error.to_string()))?;
    let flattened = flatten_on_white(&decoded);

    let thumbnail = thumbnail_of(&flattened);
    let preview = if flattened.width() > PREVIEW_WIDTH {
        flattened.resize(PREVIEW_WIDTH, u32::MAX, FilterType::Triangle)
    } else {
        flattened.clone()
    };
    let mini = flattened.resize_to_fill(MINI_PREVIEW_SIZE, MINI_PREVIEW_SIZE, FilterType::Triangle);
    Ok(Rendered {
        width,
        height,
        thumbnail: Bytes::from(encode_jpeg(&thumbnail)?),
        preview: Bytes::from(encode_jpeg(&preview)?),
        mini_preview: encode_jpeg(&mini)?,
    })
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
        image.resize(u32::MAX, THUMBNAIL_HEIGHT, FilterType::Triangle)
    } else {
        image.resize(THUMBNAIL_WIDTH, u32::MAX, FilterType::Triangle)
    }
}

/// JPEG has no alpha: transparent pixels become white rather than whatever colour they hide.
fn flatten_on_white(image: &DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.to_rgb8());
    }
    let rgba: RgbaImage = image.to_rgba8();
    let mut flattened = image::RgbImage::new(rgba.width(), rgba.height());
    for (x, y, Rgba([red, green, blue, alpha])) in rgba.enumerate_pixels() {
        let alpha = u16::from(*alpha);
        let blend = |channel: u8| ((u16::from(channel) * alpha + 255 * (255 - alpha)) / 255) as u8;
        flattened.put_pixel(x, y, image::Rgb([blend(*red), blend(*green), blend(*blue)]));
    }
    DynamicImage::ImageRgb8(flattened)
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

    fn size_of(jpeg: &[u8]) -> (u32, u32) {
        dimensions(jpeg).expect("a decodable jpeg")
    }

    #[test]
    fn wide_image_thumbnail_covers_the_box_and_preview_is_capped() {
        let rendered = render(&png(4000, 1000)).expect("render");
        assert_eq!((rendered.width, rendered.height), (4000, 1000));
        assert_eq!(size_of(&rendered.thumbnail), (400, 100));
        assert_eq!(size_of(&rendered.preview), (1920, 480));
        assert_eq!(size_of(&rendered.mini_preview), (16, 16));
    }

    #[test]
    fn tall_image_thumbnail_fits_the_width() {
        let rendered = render(&png(300, 900)).expect("render");
        assert_eq!(size_of(&rendered.thumbnail), (120, 360));
        assert_eq!(size_of(&rendered.preview), (300, 900));
    }

    #[test]
    fn small_image_is_kept_as_is() {
        let rendered = render(&png(50, 40)).expect("render");
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
            render(b"\x89PNG\r\n\x1a\nbroken"),
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
            render(&header),
            Err(ImageError::TooManyPixels { .. })
        ));
    }
}
