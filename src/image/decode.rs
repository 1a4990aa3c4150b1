//! JPEG and PNG decoding to 8-bit RGB.
//!
//! JPEG goes through libjpeg-turbo (the `turbojpeg` crate, built from source with SIMD), whose
//! default settings (accurate integer DCT, fancy upsampling) are those Pillow uses, so the pixels
//! match Pillow's. It also offers DCT-domain downscaling (1/2, 1/4, 1/8), which the multi-crop
//! pipeline uses when every crop of an image is much smaller than the image. PNG goes through the
//! pure-Rust `png` crate. EXIF orientation is applied for JPEG.
//!
//! Every size comes from untrusted headers, so the pixel count is checked against a limit before
//! any pixel buffer is allocated.

use std::cell::RefCell;
use std::io::Cursor;

use super::{ImageError, Result, RgbImage};

/// Pillow's `Image.MAX_IMAGE_PIXELS`: 1024 * 1024 * 1024 // 4 // 3.
pub const DEFAULT_MAX_PIXELS: u64 = 178_956_970;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Images with more pixels than this are refused before decoding.
    pub max_pixels: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { max_pixels: DEFAULT_MAX_PIXELS }
    }
}

/// What the headers say, read without decoding any pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub format: Format,
    /// Size as stored in the file.
    pub stored_width: usize,
    pub stored_height: usize,
    /// EXIF orientation, 1..=8 (1 = as stored).
    pub orientation: u8,
    /// JPEG colour space needs a CMYK path.
    cmyk: bool,
    /// Adobe APP14 marker present (CMYK stored inverted, as Photoshop writes it).
    adobe: bool,
}

impl Header {
    /// Size after applying the EXIF orientation: (width, height).
    pub fn size(&self) -> (usize, usize) {
        self.oriented(self.stored_width, self.stored_height)
    }

    /// Size after decoding at 1/`denom` (1, 2, 4 or 8; JPEG only) and applying the orientation.
    pub fn scaled_size(&self, denom: usize) -> (usize, usize) {
        let (w, h) = (scale_dim(self.stored_width, denom), scale_dim(self.stored_height, denom));
        self.oriented(w, h)
    }

    fn oriented(&self, w: usize, h: usize) -> (usize, usize) {
        if self.orientation >= 5 {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// The DCT scale denominators this image can be decoded at.
    pub fn supported_denominators(&self) -> &'static [usize] {
        match self.format {
            Format::Jpeg => &[1, 2, 4, 8],
            Format::Png => &[1],
        }
    }
}

/// libjpeg-turbo rounds scaled sizes up.
fn scale_dim(dim: usize, denom: usize) -> usize {
    dim.div_ceil(denom.max(1))
}

/// Which decoder a byte string needs, from its signature.
pub fn sniff(data: &[u8]) -> Result<Format> {
    if data.is_empty() {
        return Err(ImageError::Empty);
    }
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    let shown: Vec<String> = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(ImageError::UnknownFormat(shown.join(" ")))
}

fn check_size(width: usize, height: usize, opts: &DecodeOptions) -> Result<()> {
    let (w, h) = (width as u64, height as u64);
    if w == 0 || h == 0 {
        return Err(ImageError::ZeroSize { width: w, height: h });
    }
    let pixels = w.saturating_mul(h);
    if pixels > opts.max_pixels {
        return Err(ImageError::TooLarge { width: w, height: h, pixels, limit: opts.max_pixels });
    }
    Ok(())
}

/// Reads the header and checks the pixel limit; decodes no pixels.
pub fn read_header(data: &[u8], opts: &DecodeOptions) -> Result<Header> {
    let header = match sniff(data)? {
        Format::Jpeg => jpeg_header(data)?,
        Format::Png => png_header(data)?,
    };
    check_size(header.stored_width, header.stored_height, opts)?;
    Ok(header)
}

/// Decodes a whole image at full size, orientation applied.
pub fn decode(data: &[u8], opts: &DecodeOptions) -> Result<RgbImage> {
    let header = read_header(data, opts)?;
    let (w, h) = header.size();
    let mut out = vec![0u8; w * h * 3];
    decode_into(data, &header, 1, &mut out)?;
    RgbImage::from_vec(w, h, out)
}

/// Decodes into `out`, which must hold exactly `header.scaled_size(denom)` RGB pixels.
/// `denom` is a DCT scale denominator from `header.supported_denominators()`.
pub fn decode_into(data: &[u8], header: &Header, denom: usize, out: &mut [u8]) -> Result<()> {
    if !header.supported_denominators().contains(&denom) {
        return Err(ImageError::Parameter(format!(
            "scale 1/{denom} is not supported for {:?} (supported: {:?})",
            header.format,
            header.supported_denominators()
        )));
    }
    let (w, h) = header.scaled_size(denom);
    let expected = w * h * 3;
    if out.len() != expected {
        return Err(ImageError::BufferSize { expected, got: out.len() });
    }
    if header.orientation == 1 {
        return decode_stored(data, header, denom, out);
    }
    let (sw, sh) = (scale_dim(header.stored_width, denom), scale_dim(header.stored_height, denom));
    let mut stored = vec![0u8; sw * sh * 3];
    decode_stored(data, header, denom, &mut stored)?;
    apply_orientation(&stored, sw, sh, header.orientation, out);
    Ok(())
}

fn decode_stored(data: &[u8], header: &Header, denom: usize, out: &mut [u8]) -> Result<()> {
    match header.format {
        Format::Jpeg => jpeg_decode(data, header, denom, out),
        Format::Png => png_decode(data, out),
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG

thread_local! {
    // A TurboJPEG handle per thread: creating one costs more than decoding a thumbnail.
    static DECOMPRESSOR: RefCell<Option<turbojpeg::Decompressor>> = const { RefCell::new(None) };
}

fn with_decompressor<T>(f: impl FnOnce(&mut turbojpeg::Decompressor) -> Result<T>) -> Result<T> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| ImageError::Jpeg("decompressor re-entered".into()))?;
        if slot.is_none() {
            *slot = Some(turbojpeg::Decompressor::new().map_err(jpeg_err)?);
        }
        match slot.as_mut() {
            Some(d) => f(d),
            None => Err(ImageError::Jpeg("could not create a decompressor".into())),
        }
    })
}

fn jpeg_err(e: turbojpeg::Error) -> ImageError {
    let text = e.to_string();
    ImageError::Jpeg(text.trim_start_matches("TurboJPEG error: ").to_string())
}

struct JpegMarkers {
    orientation: u8,
    adobe: bool,
}

/// Walks the marker segments before the first scan, looking for EXIF (APP1) and Adobe (APP14).
fn scan_jpeg_markers(data: &[u8]) -> JpegMarkers {
    let mut found = JpegMarkers { orientation: 1, adobe: false };
    let mut pos = 2usize;
    while pos + 4 <= data.len() {
        if data[pos] != 0xFF {
            break;
        }
        let marker = data[pos + 1];
        if marker == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            break; // start of scan / end of image: no more metadata
        }
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        let body_start = pos + 4;
        let body_end = (pos + 2).saturating_add(len).min(data.len());
        if len < 2 || body_start > body_end {
            break;
        }
        let body = &data[body_start..body_end];
        if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
            found.orientation = exif_orientation(&body[6..]).unwrap_or(1);
        } else if marker == 0xEE && body.starts_with(b"Adobe") {
            found.adobe = true;
        }
        pos = body_end;
    }
    found
}

fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    (1..=8).contains(&value).then_some(value as u8)
}

fn jpeg_header(data: &[u8]) -> Result<Header> {
    let raw = with_decompressor(|d| d.read_header(data).map_err(jpeg_err))?;
    let markers = scan_jpeg_markers(data);
    let cmyk = matches!(raw.colorspace, turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK);
    Ok(Header {
        format: Format::Jpeg,
        stored_width: raw.width,
        stored_height: raw.height,
        orientation: markers.orientation,
        cmyk,
        adobe: markers.adobe,
    })
}

fn jpeg_decode(data: &[u8], header: &Header, denom: usize, out: &mut [u8]) -> Result<()> {
    let (w, h) = (scale_dim(header.stored_width, denom), scale_dim(header.stored_height, denom));
    with_decompressor(|d| {
        d.set_scaling_factor(turbojpeg::ScalingFactor::new(1, denom)).map_err(jpeg_err)?;
        if !header.cmyk {
            let image = turbojpeg::Image {
                pixels: &mut *out,
                width: w,
                pitch: w * 3,
                height: h,
                format: turbojpeg::PixelFormat::RGB,
            };
            return d.decompress(data, image).map_err(jpeg_err);
        }
        // CMYK/YCCK JPEGs decode only to CMYK; convert as Pillow does.
        let mut cmyk = vec![0u8; w * h * 4];
        let image = turbojpeg::Image {
            pixels: cmyk.as_mut_slice(),
            width: w,
            pitch: w * 4,
            height: h,
            format: turbojpeg::PixelFormat::CMYK,
        };
        d.decompress(data, image).map_err(jpeg_err)?;
        cmyk_to_rgb(&cmyk, header.adobe, out);
        Ok(())
    })
}

/// Pillow's CMYK -> RGB (Convert.c `cmyk2rgb`), after undoing Adobe's inverted storage.
fn cmyk_to_rgb(cmyk: &[u8], inverted: bool, out: &mut [u8]) {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    for (px, rgb) in cmyk.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let v = |i: usize| if inverted { 255 - px[i] as u32 } else { px[i] as u32 };
        let nk = 255 - v(3);
        for c in 0..3 {
            rgb[c] = nk.saturating_sub(muldiv255(v(c), nk)) as u8;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PNG

fn png_err(e: png::DecodingError) -> ImageError {
    ImageError::Png(e.to_string())
}

fn png_reader(data: &[u8]) -> Result<png::Reader<Cursor<&[u8]>>> {
    // The pixel-count check in `read_header` guards allocations; this byte limit is a backstop
    // for the decoder's own buffers.
    let limits = png::Limits { bytes: usize::MAX / 2 };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(data), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.read_info().map_err(png_err)
}

fn png_header(data: &[u8]) -> Result<Header> {
    let reader = png_reader(data)?;
    let info = reader.info();
    Ok(Header {
        format: Format::Png,
        stored_width: info.width as usize,
        stored_height: info.height as usize,
        orientation: 1,
        cmyk: false,
        adobe: false,
    })
}

fn png_decode(data: &[u8], out: &mut [u8]) -> Result<()> {
    let mut reader = png_reader(data)?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(png_err)?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    if out.len() != w * h * 3 {
        return Err(ImageError::BufferSize { expected: w * h * 3, got: out.len() });
    }
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(ImageError::Unsupported("palette PNG was not expanded".into()))
        }
    };
    for y in 0..h {
        let row = buf
            .get(y * frame.line_size..y * frame.line_size + w * channels)
            .ok_or_else(|| ImageError::Png("short row".into()))?;
        let dst = &mut out[y * w * 3..(y + 1) * w * 3];
        match channels {
            3 => dst.copy_from_slice(row),
            4 => {
                for (s, d) in row.chunks_exact(4).zip(dst.chunks_exact_mut(3)) {
                    d.copy_from_slice(&s[..3]);
                }
            }
            _ => {
                for (s, d) in row.chunks_exact(channels).zip(dst.chunks_exact_mut(3)) {
                    d.fill(s[0]);
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Orientation

/// Writes `src` (w x h, as stored) into `out` transformed by EXIF orientation `o` (2..=8),
/// as Pillow's `ImageOps.exif_transpose` does.
fn apply_orientation(src: &[u8], w: usize, h: usize, o: u8, out: &mut [u8]) {
    let (ow, _oh) = if o >= 5 { (h, w) } else { (w, h) };
    for y in 0..h {
        for x in 0..w {
            // Where stored pixel (x, y) lands in the output.
            let (dx, dy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (h - 1 - y, x),
                7 => (h - 1 - y, w - 1 - x),
                8 => (y, w - 1 - x),
                _ => (x, y),
            };
            let s = (y * w + x) * 3;
            let d = (dy * ow + dx) * 3;
            out[d..d + 3].copy_from_slice(&src[s..s + 3]);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn encode_jpeg(w: usize, h: usize, quality: i32) -> Vec<u8> {
        let mut pixels = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                pixels[i] = (x * 255 / w) as u8;
                pixels[i + 1] = (y * 255 / h) as u8;
                pixels[i + 2] = 128;
            }
        }
        let image = turbojpeg::Image {
            pixels: pixels.as_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        };
        turbojpeg::compress(image, quality, turbojpeg::Subsamp::Sub2x2).unwrap().to_vec()
    }

    #[test]
    fn decodes_jpeg_at_full_and_reduced_scale() {
        let jpeg = encode_jpeg(101, 67, 90);
        let img = decode(&jpeg, &DecodeOptions::default()).unwrap();
        assert_eq!((img.width, img.height), (101, 67));
        // The gradient survives: left dark red, right bright red.
        assert!(img.data[0] < 30 && img.data[(100) * 3] > 220);
        let header = read_header(&jpeg, &DecodeOptions::default()).unwrap();
        assert_eq!(header.scaled_size(2), (51, 34));
        let mut half = vec![0u8; 51 * 34 * 3];
        decode_into(&jpeg, &header, 2, &mut half).unwrap();
        assert!(half[50 * 3] > 200);
    }

    #[test]
    fn refuses_bad_input_with_reasons() {
        let opts = DecodeOptions::default();
        assert_eq!(decode(&[], &opts), Err(ImageError::Empty));
        assert!(matches!(decode(b"hello world", &opts), Err(ImageError::UnknownFormat(_))));
        let jpeg = encode_jpeg(64, 64, 90);
        assert!(matches!(decode(&jpeg[..jpeg.len() / 2], &opts), Err(ImageError::Jpeg(_))));
        assert!(matches!(decode(&jpeg[..20], &opts), Err(ImageError::Jpeg(_))));
        let small = DecodeOptions { max_pixels: 64 * 63 };
        assert!(matches!(decode(&jpeg, &small), Err(ImageError::TooLarge { .. })));
    }

    #[test]
    fn pixel_bomb_header_is_refused_before_allocation() {
        // A valid JPEG whose SOF claims 65000 x 65000.
        let mut jpeg = encode_jpeg(16, 16, 90);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&65000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&65000u16.to_be_bytes());
        let err = read_header(&jpeg, &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { pixels: 4_225_000_000, .. }), "{err}");
    }

    #[test]
    fn orientation_transposes_like_pillow() {
        // 3x2 image, pixel value = index; orientation 6 rotates 90 degrees clockwise.
        let src: Vec<u8> = (0..6u8).flat_map(|v| [v, v, v]).collect();
        let mut out = vec![0u8; 18];
        apply_orientation(&src, 3, 2, 6, &mut out);
        let got: Vec<u8> = out.chunks(3).map(|p| p[0]).collect();
        // stored rows: [0 1 2] [3 4 5]; rotated clockwise: [3 0] [4 1] [5 2]
        assert_eq!(got, vec![3, 0, 4, 1, 5, 2]);
        apply_orientation(&src, 3, 2, 8, &mut out);
        let got: Vec<u8> = out.chunks(3).map(|p| p[0]).collect();
        assert_eq!(got, vec![2, 5, 1, 4, 0, 3]);
    }

    #[test]
    fn marker_scan_survives_garbage() {
        for n in 0..64 {
            let mut data = vec![0xFF, 0xD8, 0xFF, 0xE1];
            data.extend((0..n).map(|i| (i * 37 % 256) as u8));
            let _ = scan_jpeg_markers(&data);
            let _ = decode(&data, &DecodeOptions::default());
        }
    }
}
