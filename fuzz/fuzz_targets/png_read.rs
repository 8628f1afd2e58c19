//! Fuzzes the PNG reader, `autoencoder::data::png::decode_png`, with both alpha settings.
//!
//! Besides "never panic, abort, hang or allocate what the limits do not allow" (libFuzzer's `-rss_limit_mb`
//! catches the last), it checks that a decoded picture has no zero side, values in `[0, 1]`, and channels that
//! agree between the two settings: `Drop` gives 1 or 3, and `Keep` the same or one more (alpha).
#![no_main]

use autoencoder::data::png::{decode_png, Alpha};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let kept = decode_png(data, Alpha::Keep);
    let dropped = decode_png(data, Alpha::Drop);
    for image in [&kept, &dropped].into_iter().flatten() {
        let (height, width, channels) = image.dim();
        assert!(height > 0 && width > 0 && channels > 0, "a zero side: {:?}", image.dim());
        assert!(image.iter().all(|v| (0.0..=1.0).contains(v)), "a value outside [0, 1]");
    }
    match (&kept, &dropped) {
        (Ok(kept), Ok(dropped)) => {
            let (k, d) = (kept.dim(), dropped.dim());
            assert_eq!((k.0, k.1), (d.0, d.1), "the alpha setting changed the size");
            assert!(d.2 == 1 || d.2 == 3, "{} channels without alpha", d.2);
            assert!(k.2 == d.2 || k.2 == d.2 + 1, "{} channels with alpha, {} without", k.2, d.2);
        }
        (Err(a), Err(b)) => {
            // Messages are built on every error path: make sure they format (no panics inside Display).
            let _ = (a.to_string(), b.to_string());
        }
        _ => panic!("the alpha setting changed success: {:?} vs {:?}", kept.is_ok(), dropped.is_ok()),
    }
});
