//! Profile images: an uploaded picture cropped to Mattermost's 128×128 square, and the default
//! a user without one gets — their initial, white, on a colour chosen from their id (FNV-1a of
//! the id into Mattermost's palette, so a user keeps the colour Mattermost would give them).
//! Both PNG, as Mattermost serves them.
//!
//! The initial is drawn from a small built-in 5×7 bitmap font (A–Z, 0–9), scaled up: no font
//! file to ship or find at run time. Other initials get a plain square of the colour.

use crate::images::{shrink_to_fill, ImageError};
use bytes::Bytes;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageReader, Limits, Rgb, RgbaImage};
use std::io::Cursor;

/// Mattermost's `ImageProfilePixelDimension`.
pub const PROFILE_IMAGE_SIZE: u32 = 128;

/// Mattermost's palette for default profile images, in its order (entries repeat).
const PALETTE: [[u8; 3]; 26] = [
    [197, 8, 126],
    [227, 207, 18],
    [28, 181, 105],
    [35, 188, 224],
    [116, 49, 196],
    [197, 8, 126],
    [197, 19, 19],
    [250, 134, 6],
    [227, 207, 18],
    [123, 201, 71],
    [28, 181, 105],
    [35, 188, 224],
    [116, 49, 196],
    [197, 8, 126],
    [197, 19, 19],
    [250, 134, 6],
    [227, 207, 18],
    [123, 201, 71],
    [28, 181, 105],
    [35, 188, 224],
    [116, 49, 196],
    [197, 8, 126],
    [197, 19, 19],
    [250, 134, 6],
    [227, 207, 18],
    [123, 201, 71],
];

/// Rows of 5 pixels (bit 4 is the leftmost), 7 rows a glyph.
fn glyph(character: char) -> Option<[u8; 7]> {
    Some(match character {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        _ => return None,
    })
}

/// 32-bit FNV-1a, as Go's `hash/fnv` computes it.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The background colour of a user's default profile image.
pub fn default_colour(user_id: &str) -> [u8; 3] {
    PALETTE[(fnv1a_32(user_id.as_bytes()) as usize) % PALETTE.len()]
}

/// The default profile image of a user: the first letter of their username, upper-cased,
/// white on their colour, 128×128 PNG.
pub fn default_profile_image(username: &str, user_id: &str) -> Bytes {
    const SCALE: u32 = 10;
    let [red, green, blue] = default_colour(user_id);
    let mut canvas = RgbaImage::from_pixel(
        PROFILE_IMAGE_SIZE,
        PROFILE_IMAGE_SIZE,
        image::Rgba([red, green, blue, 255]),
    );
    let initial = username
        .chars()
        .next()
        .map(|first| first.to_ascii_uppercase());
    if let Some(rows) = initial.and_then(glyph) {
        let left = (PROFILE_IMAGE_SIZE - 5 * SCALE) / 2;
        let top = (PROFILE_IMAGE_SIZE - 7 * SCALE) / 2;
        for (row_index, row) in rows.iter().enumerate() {
            for column in 0..5u32 {
                if row & (0x10 >> column) == 0 {
                    continue;
                }
                for dy in 0..SCALE {
                    for dx in 0..SCALE {
                        canvas.put_pixel(
                            left + column * SCALE + dx,
                            top + row_index as u32 * SCALE + dy,
                            image::Rgba([255, 255, 255, 255]),
                        );
                    }
                }
            }
        }
    }
    encode_png(&DynamicImage::ImageRgba8(canvas)).unwrap_or_default()
}

/// An uploaded profile picture: decoded (at most `max_pixels`, as previews are), its middle
/// square scaled to 128×128, as PNG. Transparency is kept.
pub fn profile_image(content: &[u8], max_pixels: u64) -> Result<Bytes, ImageError> {
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
    limits.max_alloc = Some(u64::from(width) * u64::from(height) * 4 + 16 * 1024 * 1024);
    let mut reader = open()?;
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|error| ImageError::Decode(error.to_string()))?;
    let square = shrink_to_fill(&decoded, PROFILE_IMAGE_SIZE, PROFILE_IMAGE_SIZE);
    encode_png(&square)
}

fn encode_png(image: &DynamicImage) -> Result<Bytes, ImageError> {
    let mut encoded = Vec::new();
    image
        .write_with_encoder(PngEncoder::new(&mut encoded))
        .map_err(|error| ImageError::Encode(error.to_string()))?;
    Ok(Bytes::from(encoded))
}

/// The colour of the pixel at (x, y) of a PNG, for tests here and elsewhere.
pub fn pixel_of(png: &[u8], x: u32, y: u32) -> Option<Rgb<u8>> {
    let decoded = image::load_from_memory(png).ok()?.into_rgb8();
    (x < decoded.width() && y < decoded.height()).then(|| *decoded.get_pixel(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New32a() over "a" is 0xe40c292c.
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
    }

    #[test]
    fn default_image_is_a_128_square_of_the_users_colour_with_a_white_initial() {
        let png = default_profile_image("alice", "abcdefghijklmnopqrstuvwxyz");
        let colour = default_colour("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(pixel_of(&png, 0, 0), Some(Rgb(colour)));
        // The crossbar of the A (glyph row 3: y 59..69 once scaled and centred) is white.
        assert_eq!(pixel_of(&png, 64, 64), Some(Rgb([255, 255, 255])));
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (128, 128));
    }

    #[test]
    fn uploaded_pictures_become_128_squares() {
        let wide = RgbaImage::from_pixel(300, 100, image::Rgba([10, 20, 30, 255]));
        let mut source = Vec::new();
        DynamicImage::ImageRgba8(wide)
            .write_with_encoder(PngEncoder::new(&mut source))
            .unwrap();
        let png = profile_image(&source, 1_000_000).unwrap();
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (128, 128));
        assert!(matches!(
            profile_image(&source, 100),
            Err(ImageError::TooManyPixels { .. })
        ));
        assert!(matches!(
            profile_image(b"not an image", 100),
            Err(ImageError::Decode(_))
        ));
    }
}
