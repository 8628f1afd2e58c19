//! A model too large for memory is an error from the builder that says how much memory it needed, not an abort
//! of the process ("memory allocation of 40000000000 bytes failed").

mod common;

use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Activation, Autoencoder, Dense, Error, Init};

const CHILD_ENV: &str = "AUTOENCODER_BUILDER_TEST_MEMORY_LIMITED";

/// Run in a child process whose address space is capped at 512 MiB, so that the allocation fails the same way
/// on any machine (without the cap, a machine with enough memory could make the 80 GB).
#[cfg(unix)]
#[test]
fn a_model_too_large_for_memory_is_an_error_saying_how_much_it_needs() {
    if std::env::var_os(CHILD_ENV).is_none() {
        common::pass_again_in_512_mib(
            "a_model_too_large_for_memory_is_an_error_saying_how_much_it_needs",
            CHILD_ENV,
        );
        return;
    }
    match Autoencoder::builder(100_000).latent(100_000).build() {
        Err(Error::InvalidArgument(message)) => {
            println!("{message}");
            common::assert_contains(
                &message,
                &[
                    "80000800000 bytes",
                    "74.5 GiB",
                    "100000 × 100000",
                    "40000400000 bytes",
                    "could not be allocated",
                ],
            )
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let mut rng = <StdRng as SeedableRng>::seed_from_u64(0);
    let err = Dense::new(100_000, 100_000, Activation::Relu, Init::GlorotUniform, &mut rng).unwrap_err();
    common::assert_contains(&err.to_string(), &["100000 × 100000", "40000400000 bytes (37.3 GiB)"]);
    // What fits still builds in the same process.
    assert!(Autoencoder::builder(784).hidden(&[256, 64]).latent(16).build().is_ok());
}
