//! JPEG and PNG decoding to 8-bit RGB.
//!
//! JPEG goes through libjpeg-turbo (the `turbojpeg` crate, built from source with SIMD), whose
//! default settings (accurate integer DCT, fancy upsampling) are those Pillow uses, so the pixels
//! match Pillow's. It also offers DCT-domain downscaling (1/2, 1/4, 1/8), which the multi-crop
//! pipeline uses when every crop of an image is much smaller than the image. PNG goes through the
//! pure-Rust `png` crate. The EXIF orientation (JPEG APP1, PNG eXIf) is applied as Pillow's
//! `ImageOps.exif_transpose` does.
//!
//! Why libjpeg-turbo alone, without a pure-Rust fallback: on the same real ImageNet-sized files
//! (`cargo bench --bench decode`) it decodes faster than zune-jpeg, its pixels equal Pillow's
//! (zune-jpeg's differ by up to 12 levels), it offers DCT scaling, and it reads files that
//! zune-jpeg refuses (arithmetic coding); no JPEG is known that zune-jpeg reads and it does not,
//! so a fallback would add code and a second set of pixels without adding coverage.
//!
//! Every size comes from untrusted headers, so the pixel count is checked against a limit before
//! any pixel buffer is allocated.

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
    let mut out = zeroed(w * h * 3)?;
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
    let mut stored = zeroed(sw * sh * 3)?;
    decode_stored(data, header, denom, &mut stored)?;
    apply_orientation(&stored, sw, sh, header.orientation, out);
    Ok(())
}

/// A zero-filled buffer, or an error instead of an abort when the allocation fails.
fn zeroed(len: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| ImageError::Unsupported(format!("cannot allocate {len} bytes for the decoded pixels")))?;
    buf.resize(len, 0);
    Ok(buf)
}

fn decode_stored(data: &[u8], header: &Header, denom: usize, out: &mut [u8]) -> Result<()> {
    match header.format {
        Format::Jpeg => jpeg_decode(data, header, denom, out),
        Format::Png => png_decode(data, out),
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG

/// A new TurboJPEG handle for each image. libjpeg keeps Huffman and quantisation tables in the
/// handle from one image to the next (for abbreviated streams), so a reused handle lets one file
/// change how the next decodes: after a corrupt file defines bogus tables, later valid files
/// fail, and a file that lacks tables would silently borrow the previous file's. Pillow also
/// decodes each image with a fresh decompressor. A handle costs about half a microsecond to make
/// (`cargo bench --bench decode`), against a millisecond to decode an ImageNet-sized image.
fn with_decompressor<T>(f: impl FnOnce(&mut turbojpeg::Decompressor) -> Result<T>) -> Result<T> {
    let mut d = turbojpeg::Decompressor::new().map_err(jpeg_err)?;
    f(&mut d)
}

fn jpeg_err(e: turbojpeg::Error) -> ImageError {
    let text = e.to_string();
    ImageError::Jpeg(text.trim_start_matches("TurboJPEG error: ").to_string())
}

/// Walks the marker segments before the first scan for the EXIF orientation. Like Pillow, only
/// the first EXIF APP1 segment counts; no or unreadable EXIF means orientation 1.
fn jpeg_orientation(data: &[u8]) -> u8 {
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
        if marker == 0xE1 {
            if let Some(tiff) = body.strip_prefix(b"Exif\0\0") {
                return exif_orientation(tiff).unwrap_or(1);
            }
        }
        pos = body_end;
    }
    1
}

fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    let field = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    (1..=8).contains(&value).then_some(value as u8)
}

fn jpeg_header(data: &[u8]) -> Result<Header> {
    let raw = with_decompressor(|d| d.read_header(data).map_err(jpeg_err))?;
    let cmyk = matches!(raw.colorspace, turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK);
    Ok(Header {
        format: Format::Jpeg,
        stored_width: raw.width,
        stored_height: raw.height,
        orientation: jpeg_orientation(data),
        cmyk,
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
            return tolerate_trailing_junk(d.decompress(data, image));
        }
        // CMYK/YCCK JPEGs decode only to CMYK; convert as Pillow does.
        let mut cmyk = zeroed(w * h * 4)?;
        let image = turbojpeg::Image {
            pixels: cmyk.as_mut_slice(),
            width: w,
            pitch: w * 4,
            height: h,
            format: turbojpeg::PixelFormat::CMYK,
        };
        tolerate_trailing_junk(d.decompress(data, image))?;
        cmyk_to_rgb(&cmyk, out);
        Ok(())
    })
}

/// libjpeg-turbo reports recoverable damage as a warning, which TurboJPEG turns into an error
/// after finishing the image; trex refuses such images (truncated data, bad Huffman codes), with
/// one exception: junk between the last scan and the end-of-image marker ("N extraneous bytes
/// before marker 0xd9"), which leaves every pixel decoded. Pillow and torchvision accept it too,
/// and a few ImageNet files have it. libjpeg reports only the first warning, and this one can
/// only come last, so accepting it hides no other damage.
fn tolerate_trailing_junk(result: std::result::Result<(), turbojpeg::Error>) -> Result<()> {
    match result {
        Err(turbojpeg::Error::TurboJpegError(msg)) if msg.contains("extraneous bytes before marker 0xd9") => Ok(()),
        other => other.map_err(jpeg_err),
    }
}

/// Pillow's CMYK -> RGB (Convert.c `cmyk2rgb`) on CMYK stored inverted. Photoshop stores CMYK
/// JPEGs inverted, and Pillow assumes that storage for every CMYK JPEG, Adobe marker or not
/// (rawmode "CMYK;I"); trex does the same so that it decodes such files exactly as Pillow does.
fn cmyk_to_rgb(cmyk: &[u8], out: &mut [u8]) {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    for (px, rgb) in cmyk.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let v = |i: usize| 255 - px[i] as u32;
        let nk = 255 - v(3);
        for (c, dst) in rgb.iter_mut().enumerate() {
            *dst = nk.saturating_sub(muldiv255(v(c), nk)) as u8;
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
        orientation: png_orientation(data),
        cmyk: false,
    })
}

/// The orientation in an eXIf chunk before the image data (a TIFF structure, as in JPEG's APP1),
/// which Pillow's `exif_transpose` also applies; 1 when there is none or it is unreadable. The
/// `png` crate does not read eXIf, so this walks the chunk list itself.
fn png_orientation(data: &[u8]) -> u8 {
    let mut pos = 8usize; // signature
    while let Some(head) = data.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let body_start = pos + 8;
        let Some(body) = body_start.checked_add(len).and_then(|end| data.get(body_start..end)) else {
            break;
        };
        match &head[4..8] {
            b"eXIf" => return exif_orientation(body).unwrap_or(1),
            b"IDAT" | b"IEND" => break,
            _ => pos = body_start + len + 4, // + CRC
        }
    }
    1
}

fn png_decode(data: &[u8], out: &mut [u8]) -> Result<()> {
    let mut reader = png_reader(data)?;
    if reader.output_color_type() == (png::ColorType::Rgb, png::BitDepth::Eight)
        && reader.output_buffer_size() == out.len()
    {
        // Already packed RGB: decode straight into the output.
        reader.next_frame(out).map_err(png_err)?;
        return Ok(());
    }
    let mut buf = zeroed(reader.output_buffer_size())?;
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
        png::ColorType::Indexed => return Err(ImageError::Unsupported("palette PNG was not expanded".into())),
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
            assert_eq!(jpeg_orientation(&data), 1);
            assert!(decode(&data, &DecodeOptions::default()).is_err());
        }
    }

    /// A big-endian TIFF structure holding one IFD0 entry: Orientation (0x0112, SHORT) = `o`.
    fn tiff_orientation(o: u16) -> Vec<u8> {
        let mut t = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        t.extend(o.to_be_bytes());
        t.extend([0, 0, 0, 0, 0, 0]); // value padding, next IFD offset 0
        t
    }

    fn with_app1_exif(jpeg: &[u8], orientations: &[u16]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        for &o in orientations {
            let mut body = b"Exif\0\0".to_vec();
            body.extend(tiff_orientation(o));
            out.extend([0xFF, 0xE1]);
            out.extend(((body.len() + 2) as u16).to_be_bytes());
            out.extend(body);
        }
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn first_exif_segment_decides_orientation_like_pillow() {
        let jpeg = encode_jpeg(40, 30, 90);
        assert_eq!(jpeg_orientation(&with_app1_exif(&jpeg, &[6])), 6);
        assert_eq!(jpeg_orientation(&with_app1_exif(&jpeg, &[6, 3])), 6);
        assert_eq!(jpeg_orientation(&with_app1_exif(&jpeg, &[9])), 1); // out of range
        let img = decode(&with_app1_exif(&jpeg, &[6, 1]), &DecodeOptions::default()).unwrap();
        assert_eq!((img.width, img.height), (30, 40));
    }

    #[test]
    fn png_exif_chunk_orients_the_image() {
        let (w, h) = (5usize, 3usize);
        let pixels: Vec<u8> = (0..w * h).flat_map(|i| [i as u8, 0, 0]).collect();
        let mut png_bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png_bytes, w as u32, h as u32);
            enc.set_color(png::ColorType::Rgb);
            let mut writer = enc.write_header().unwrap();
            writer.write_chunk(png::chunk::ChunkType(*b"eXIf"), &tiff_orientation(8)).unwrap();
            writer.write_image_data(&pixels).unwrap();
        }
        let img = decode(&png_bytes, &DecodeOptions::default()).unwrap();
        assert_eq!((img.width, img.height), (3, 5));
        // Orientation 8 rotates 90 degrees counter-clockwise: the top row of the result is the
        // stored right column, top to bottom.
        let top: Vec<u8> = img.data[..9].chunks(3).map(|p| p[0]).collect();
        assert_eq!(top, vec![4, 9, 14]);
    }

    #[test]
    fn cmyk_is_read_as_inverted_like_pillow() {
        // Stored inverted: the ink amounts (128, 0, 0, 64) are stored as (127, 255, 255, 191).
        // Pillow: Image.new("CMYK", (1, 1), (128, 0, 0, 64)).convert("RGB") == (95, 191, 191).
        let mut rgb = [0u8; 6];
        cmyk_to_rgb(&[127, 255, 255, 191, 255, 255, 255, 255], &mut rgb);
        assert_eq!(rgb, [95, 191, 191, 255, 255, 255]);
    }

    #[test]
    fn ycck_jpeg_decodes_to_rgb() {
        // TurboJPEG writes CMYK input as YCCK with an Adobe marker (transform 2).
        let (w, h) = (32usize, 16usize);
        let cmyk: Vec<u8> = (0..w * h).flat_map(|i| [255, 255 - (i % w * 8) as u8, 255, 255]).collect();
        let image = turbojpeg::Image {
            pixels: cmyk.as_slice(),
            width: w,
            pitch: w * 4,
            height: h,
            format: turbojpeg::PixelFormat::CMYK,
        };
        let jpeg = turbojpeg::compress(image, 95, turbojpeg::Subsamp::None).unwrap().to_vec();
        let header = read_header(&jpeg, &DecodeOptions::default()).unwrap();
        assert!(header.cmyk);
        let img = decode(&jpeg, &DecodeOptions::default()).unwrap();
        // No cyan, yellow or black ink; magenta grows left to right, so green falls.
        let px = |x: usize| &img.data[x * 3..x * 3 + 3];
        assert!(px(0)[0] > 245 && px(0)[1] > 245 && px(0)[2] > 245, "{:?}", px(0));
        assert!(px(31)[0] > 245 && px(31)[1] < 20 && px(31)[2] > 245, "{:?}", px(31));
    }

    #[test]
    fn a_corrupt_file_does_not_change_how_the_next_one_decodes() {
        let jpeg = encode_jpeg(48, 32, 90);
        let clean = decode(&jpeg, &DecodeOptions::default()).unwrap();
        // A JPEG whose Huffman table segment is garbage (bogus counts), then a valid one.
        let dht = jpeg.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        let mut bogus = jpeg.clone();
        for b in &mut bogus[dht + 5..dht + 21] {
            *b = 0xFF;
        }
        for _ in 0..3 {
            assert!(decode(&bogus, &DecodeOptions::default()).is_err());
            assert_eq!(decode(&jpeg, &DecodeOptions::default()).unwrap(), clean);
        }
    }

    #[test]
    fn arithmetic_coded_jpeg_decodes_like_its_huffman_twin() {
        // Arithmetic coding changes only the entropy coding, so the pixels must be identical.
        let (w, h) = (40usize, 24usize);
        let pixels: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 6) as u8, (i / w * 10) as u8, 77]).collect();
        let encode = |arithmetic: bool| {
            let mut c = turbojpeg::Compressor::new().unwrap();
            c.set_quality(85).unwrap();
            c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap();
            c.set_arithmetic(arithmetic).unwrap();
            let image = turbojpeg::Image {
                pixels: pixels.as_slice(),
                width: w,
                pitch: w * 3,
                height: h,
                format: turbojpeg::PixelFormat::RGB,
            };
            c.compress_to_vec(image).unwrap()
        };
        let (huffman, arithmetic) = (encode(false), encode(true));
        assert_ne!(huffman, arithmetic);
        assert!(arithmetic.windows(2).any(|m| m == [0xFF, 0xC9]), "expected an SOF9 marker");
        let opts = DecodeOptions::default();
        assert_eq!(decode(&arithmetic, &opts).unwrap(), decode(&huffman, &opts).unwrap());
    }

    #[test]
    fn junk_before_end_marker_is_tolerated_but_truncation_is_not() {
        let jpeg = encode_jpeg(48, 32, 90);
        let clean = decode(&jpeg, &DecodeOptions::default()).unwrap();
        let n = jpeg.len();
        let mut junk = jpeg[..n - 2].to_vec();
        junk.extend([0u8; 7]);
        junk.extend(&jpeg[n - 2..]);
        assert_eq!(decode(&junk, &DecodeOptions::default()).unwrap(), clean);
        let err = decode(&jpeg[..n - 2], &DecodeOptions::default()).unwrap_err();
        assert!(err.to_string().contains("Premature end of JPEG file"), "{err}");
    }
}
