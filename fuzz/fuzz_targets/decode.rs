//! Any bytes into the decoder: it must return an image or an error, never panic, crash, hang or
//! allocate without bound. The pixel limit is lowered so that a header claiming a large image
//! cannot make one run allocate gigabytes (the limit itself is tested in the unit tests).
#![no_main]

use _trex::image::decode::{self, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions {
        max_pixels: 4_000_000,
    };
    if let Ok(header) = decode::read_header(data, &opts) {
        for &denom in header.supported_denominators() {
            let (w, h) = header.scaled_size(denom);
            let mut out = vec![0u8; w * h * 3];
            let _ = decode::decode_into(data, &header, denom, &mut out);
        }
    }
    if let Ok(img) = decode::decode(data, &opts) {
        assert_eq!(img.data.len(), img.width * img.height * 3);
    }
});
