//! Helpers shared by the integration tests: a fresh folder per test, a folder's listing, a check on error
//! messages, a test run again in a child process with little memory, and safetensors files taken apart with the `safetensors` crate (not ours) to break them in one place.
//! Each test file includes it with `mod common;`.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod activations;
pub mod gradients;
pub mod trajectory;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use autoencoder::Autoencoder;
use safetensors::{Dtype, SafeTensors, View};

/// A fresh empty folder for one test: `autoencoder-{test file}-{name}-{process id}` in the system's temporary
/// folder, emptied first if an earlier run left it behind, and removed with everything in it when the test passes
/// (when the returned [`Scratch`] is dropped; a failing test's folder stays, to be looked at).
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "autoencoder-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A test's folder from [`scratch`]: a [`Path`] (through `Deref`), removed when dropped, unless the test is failing.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the failing test's files are kept in {}", self.0.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The names in a folder, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The bits of every weight and bias, encoder then decoder, each layer's weights then its bias: equal means
/// bit-identical parameters.
pub fn parameter_bits(ae: &Autoencoder) -> Vec<u32> {
    ae.encoder()
        .layers()
        .iter()
        .chain(ae.decoder().layers())
        .flat_map(|layer| {
            let weights: Vec<u32> = layer.weights().iter().map(|v| v.to_bits()).collect();
            weights.into_iter().chain(layer.bias().iter().map(|v| v.to_bits()))
        })
        .collect()
}

/// Asserts that `message` contains every one of `parts`.
#[track_caller]
pub fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} should contain {part:?}");
    }
}

/// A tensor as raw bytes, for the `safetensors` writer.
#[derive(Clone, Debug)]
pub struct Raw {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The tensors and `__metadata__` of a safetensors file, taken apart with the `safetensors` crate; change them,
/// then [`Parts::bytes`] writes them back with `safetensors::serialize`.
pub struct Parts {
    pub tensors: BTreeMap<String, Raw>,
    pub metadata: Option<HashMap<String, String>>,
}

impl Parts {
    /// The parts of the safetensors file `bytes`.
    pub fn of(bytes: &[u8]) -> Parts {
        let file = SafeTensors::deserialize(bytes).unwrap();
        let tensors = file
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let raw = Raw {
                    dtype: view.dtype(),
                    shape: view.shape().to_vec(),
                    data: view.data().to_vec(),
                };
                (name, raw)
            })
            .collect();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        Parts {
            tensors,
            metadata: header.metadata().clone(),
        }
    }

    /// The `__metadata__` map, which must be there.
    pub fn meta(&mut self) -> &mut HashMap<String, String> {
        self.metadata.as_mut().unwrap()
    }

    /// Serialised with `safetensors::serialize`.
    pub fn bytes(&self) -> Vec<u8> {
        safetensors::serialize(self.tensors.iter().map(|(n, r)| (n.clone(), r)), self.metadata.clone()).unwrap()
    }
}

/// Runs the test `name` of this test binary again, alone, in a child process whose address space is capped at
/// 512 MiB and with `child_env` set (for the test to tell it is the child), and fails unless it passed there:
/// allocating a size that a file only claims (even lazily, as the OS allows for 16 GiB) aborts the child.
#[cfg(unix)]
pub fn pass_again_in_512_mib(name: &str, child_env: &str) {
    pass_again_limited(name, child_env, "ulimit -v 524288", "memory-limited");
}

/// Runs the test `name` again, alone, in a child process that cannot write files past 8 KiB (`ulimit -f 16`, in
/// 512-byte blocks; the signal `SIGXFSZ` ignored, so that a write past it fails with `EFBIG` as on a full disk),
/// with `child_env` set, and fails unless it passed there.
#[cfg(unix)]
pub fn pass_again_with_8_kib_files(name: &str, child_env: &str) {
    pass_again_limited(name, child_env, "trap '' XFSZ && ulimit -f 16", "file-size-limited");
}

/// Runs the test `name` again in `sh` after `limit` (shell commands), with `child_env` set.
#[cfg(unix)]
fn pass_again_limited(name: &str, child_env: &str, limit: &str, what: &str) {
    let output = output_within(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(r#"{limit} && exec "$0" --exact "$1" --test-threads=1"#))
            .arg(std::env::current_exe().unwrap())
            .arg(name)
            .env(child_env, "1"),
        300,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what} run failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the {what} run did not run the test: {stdout}"
    );
}

/// Runs `body` on a thread of its own and returns its result, failing the test (a panic naming the limit) if it
/// has not finished within `seconds`: a test that could block fails in seconds instead of hanging the test run.
/// The blocked thread is left behind and ends with the test process. A panic in `body` is passed on.
#[track_caller]
pub fn within<T: Send + 'static>(seconds: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let (done, finished) = channel();
    let runner = std::thread::spawn(move || {
        let result = body();
        let _ = done.send(());
        result
    });
    match finished.recv_timeout(std::time::Duration::from_secs(seconds)) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match runner.join() {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        },
        Err(RecvTimeoutError::Timeout) => panic!("still running after {seconds} s: it hangs"),
    }
}

/// Runs `command` to its end and returns its output, like `Command::output`, but kills it and fails the test if
/// it has not ended within `seconds`: a hanging child process fails the test instead of hanging the run.
#[track_caller]
pub fn output_within(command: &mut std::process::Command, seconds: u64) -> std::process::Output {
    use std::process::Stdio;
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let pid = child.id();
    let (done, finished) = channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(std::time::Duration::from_secs(seconds)) {
        Ok(output) => output.unwrap_or_else(|e| panic!("waiting for {command:?}: {e}")),
        Err(RecvTimeoutError::Timeout) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("{command:?} still running after {seconds} s: killed (it hangs)")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("lost the child process of {command:?}"),
    }
}

/// A crafted safetensors file (issue 9) that made the loaders overflow (`attempt to add with overflow`, a panic
/// in debug builds): eight `U8` tensors of shape `[2^61 - 1]`, whose data offsets tile `[0, 2^64 - 8]` without
/// gaps, each with the byte size its shape gives; a model's `__metadata__`, and no data at all.
pub fn offsets_up_to_2_pow_64() -> Vec<u8> {
    let size = (1_u64 << 61) - 1;
    let tensors: Vec<String> = (0..8)
        .map(|i| {
            format!(
                r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{},{}]}}"#,
                i * size,
                (i + 1) * size
            )
        })
        .collect();
    let json = format!(
        r#"{{"__metadata__":{{"format":"autoencoder","format_version":"1"}},{}}}"#,
        tensors.join(",")
    );
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes
}
