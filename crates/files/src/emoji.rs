//! Custom emoji images, checked and sized as Mattermost does: a PNG, JPEG or GIF of at most
//! 1028×1028 pixels; one larger than 128×128 is scaled to fit 128×128 (a GIF frame by frame,
//! so it stays animated; anything else becomes a PNG). Pure computation on bytes in memory
//! (at most [`MAX_EMOJI_FILE_SIZE`] of them): callers run [`prepare`] on the blocking pool.

use crate::images::ImageError;
use bytes::Bytes;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{AnimationDecoder, Delay, DynamicImage, Frame, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Mattermost's `MaxEmojiFileSize` (512 KiB): larger uploads are refused.
pub const MAX_EMOJI_FILE_SIZE: u64 = 1 << 19;
/// Larger images are scaled down to fit this square.
pub const MAX_EMOJI_SIDE: u32 = 128;
/// Larger images are refused.
pub const MAX_EMOJI_ORIGINAL_SIDE: u32 = 1028;
/// Frames an animated GIF may have before it is refused rather than resized (bounds the work
/// one upload can cause: each frame is decoded at up to 1028×1028).
const MAX_RESIZED_FRAMES: usize = 512;

/// Why an emoji image is refused.
#[derive(Debug, thiserror::Error)]
pub enum EmojiImageError {
    /// Not a PNG, JPEG or GIF (or its header is unreadable).
    #[error("not a supported image: {0}")]
    NotAnImage(String),
    #[error("image is {width}x{height}, more than {max}x{max}", max = MAX_EMOJI_ORIGINAL_SIDE)]
    TooLarge { width: u32, height: u32 },
    #[error("cannot decode image: {0}")]
    Decode(String),
    #[error("cannot encode image: {0}")]
    Encode(String),
}

/// An emoji image ready to store.
#[derive(Debug, Clone)]
pub struct EmojiImage {
    pub content: Bytes,
    /// `png`, `jpeg` or `gif`: the image's type, served as `image/<kind>`.
    pub kind: &'static str,
}

/// Checks an uploaded emoji image and scales it down when it is larger than 128×128.
pub fn prepare(content: &[u8]) -> Result<EmojiImage, EmojiImageError> {
    let format = image::guess_format(content)
        .map_err(|error| EmojiImageError::NotAnImage(error.to_string()))?;
    let kind = kind_of(format)
        .ok_or_else(|| EmojiImageError::NotAnImage(format!("{format:?} is not supported")))?;
    let (width, height) = ImageReader::with_format(Cursor::new(content), format)
        .into_dimensions()
        .map_err(|error| EmojiImageError::NotAnImage(error.to_string()))?;
    if width > MAX_EMOJI_ORIGINAL_SIDE || height > MAX_EMOJI_ORIGINAL_SIDE {
        return Err(EmojiImageError::TooLarge { width, height });
    }
    if width <= MAX_EMOJI_SIDE && height <= MAX_EMOJI_SIDE {
        return Ok(EmojiImage {
            content: Bytes::copy_from_slice(content),
            kind,
        });
    }
    if format == ImageFormat::Gif {
        return Ok(EmojiImage {
            content: resize_gif(content)?,
            kind: "gif",
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(content), format);
    reader.limits(decode_limits(width, height));
    let decoded = reader
        .decode()
        .map_err(|error| EmojiImageError::Decode(error.to_string()))?;
    let resized = decoded.resize(MAX_EMOJI_SIDE, MAX_EMOJI_SIDE, FilterType::Lanczos3);
    let mut encoded = Vec::new();
    resized
        .write_with_encoder(PngEncoder::new(&mut encoded))
        .map_err(|error| EmojiImageError::Encode(error.to_string()))?;
    Ok(EmojiImage {
        content: Bytes::from(encoded),
        kind: "png",
    })
}

/// The type of a stored emoji image, read from its header (`GET /emoji/{id}/image`).
pub fn kind_of_stored(content: &[u8]) -> Option<&'static str> {
    image::guess_format(content).ok().and_then(kind_of)
}

fn kind_of(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Png => Some("png"),
        ImageFormat::Jpeg => Some("jpeg"),
        ImageFormat::Gif => Some("gif"),
        _ => None,
    }
}

fn decode_limits(width: u32, height: u32) -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(u64::from(width) * u64::from(height) * 4 + 16 * 1024 * 1024);
    limits
}

/// Every frame of an animated GIF scaled to fit 128×128, with its timing kept.
fn resize_gif(content: &[u8]) -> Result<Bytes, EmojiImageError> {
    let decoder = GifDecoder::new(Cursor::new(content))
        .map_err(|error| EmojiImageError::Decode(error.to_string()))?;
    let mut resized_frames = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame.map_err(|error| EmojiImageError::Decode(error.to_string()))?;
        if resized_frames.len() >= MAX_RESIZED_FRAMES {
            return Err(EmojiImageError::Decode(format!(
                "more than {MAX_RESIZED_FRAMES} frames"
            )));
        }
        let delay: Delay = frame.delay();
        let full = DynamicImage::ImageRgba8(frame.into_buffer());
        let small = full
            .resize(MAX_EMOJI_SIDE, MAX_EMOJI_SIDE, FilterType::Lanczos3)
            .into_rgba8();
        resized_frames.push(Frame::from_parts(small, 0, 0, delay));
    }
    let mut encoded = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut encoded);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(|error| EmojiImageError::Encode(error.to_string()))?;
        encoder
            .encode_frames(resized_frames)
            .map_err(|error| EmojiImageError::Encode(error.to_string()))?;
    }
    Ok(Bytes::from(encoded))
}

impl From<ImageError> for EmojiImageError {
    fn from(error: ImageError) -> Self {
        EmojiImageError::Decode(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgba};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = ImageBuffer::from_pixel(width, height, Rgba([200u8, 10, 10, 255]));
        let mut encoded = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_with_encoder(PngEncoder::new(&mut encoded))
            .unwrap();
        encoded
    }

    #[test]
    fn small_images_are_kept_and_large_ones_fit_128() {
        let small = png(32, 16);
        let kept = prepare(&small).unwrap();
        assert_eq!(
            (kept.kind, kept.content.as_ref()),
            ("png", small.as_slice())
        );

        let large = prepare(&png(512, 256)).unwrap();
        let dimensions = ImageReader::new(Cursor::new(large.content.as_ref()))
            .with_guessed_format()
            .unwrap()
            .into_dimensions()
            .unwrap();
        assert_eq!(dimensions, (128, 64));
    }

    #[test]
    fn oversized_and_non_images_are_refused() {
        assert!(matches!(
            prepare(&png(1100, 10)),
            Err(EmojiImageError::TooLarge { .. })
        ));
        assert!(matches!(
            prepare(b"not an image at all"),
            Err(EmojiImageError::NotAnImage(_))
        ));
    }
}
