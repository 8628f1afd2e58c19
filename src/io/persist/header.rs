//! The JSON header of a model file: its size limit, one parse straight into the tensor table and `__metadata__`
//! (no JSON values in between, which cost many times the header's size), and the checks on the tensor table,
//! with checked arithmetic, before anything relies on it.

use std::collections::HashMap;
use std::fmt;

use safetensors::tensor::TensorInfo;
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;

use super::load::{data_size_mismatch, shape_text, Check};

/// The largest JSON header a model or checkpoint file may have, in bytes (16 MiB); [`save`] refuses to write a
/// larger one and [`load`] refuses to parse one.
///
/// A header grows with the layers: a model's takes about 250 bytes per layer (two tensors and an activation), a
/// checkpoint's with Adam about 775 (four more tensors named after their parameters, and each parameter's name in
/// a list and a key). A checkpoint of a 2,000-layer encoder and a 2,000-layer decoder of 1000 × 1000 layers has a
/// header of about 3.1 MB, so the limit holds more than 20,000 layers.
/// `safetensors` allows 100 MB, but a header is all text and parsing it costs memory and time: a header bounded
/// by this limit is parsed in well under 512 MiB, whatever its contents.
///
/// ```
/// use autoencoder::persist::MAX_HEADER_BYTES;
/// let mut bytes = (MAX_HEADER_BYTES as u64 + 1).to_le_bytes().to_vec();
/// bytes.extend(std::iter::repeat_n(b' ', MAX_HEADER_BYTES + 1));
/// let err = autoencoder::Autoencoder::from_safetensors_bytes(&bytes).unwrap_err();
/// assert!(err.to_string().contains(&format!("over the limit of {MAX_HEADER_BYTES} bytes")), "{err}");
/// ```
///
/// [`save`]: crate::Autoencoder::save
/// [`load`]: crate::Autoencoder::load
pub const MAX_HEADER_BYTES: usize = 16 << 20;

/// A parsed header: the tensor table and `__metadata__`, not yet checked.
pub(crate) struct Header {
    /// `__metadata__`, when the header has one.
    metadata: Option<HashMap<String, String>>,
    /// The tensors by data offsets, then name: the order of their data in the file.
    tensors: Vec<(String, TensorInfo)>,
    /// Indices into `tensors`, sorted by name, to find a tensor by name.
    by_name: Vec<usize>,
}

impl Header {
    /// Parses a header's JSON text, once, refusing text that is not UTF-8, JSON that is not an object of tensors
    /// and `__metadata__`, and a tensor named twice.
    pub(crate) fn parse(json: &[u8]) -> Check<Header> {
        let text = std::str::from_utf8(json)
            .map_err(|_| "not a safetensors file: the header is not UTF-8 text".to_string())?;
        let Parsed { metadata, mut tensors } = serde_json::from_str(text)
            .map_err(|e| format!("corrupt safetensors header (not valid JSON of the expected shape): {e}"))?;
        tensors.sort_by(|(a, a_info), (b, b_info)| (a_info.data_offsets, a).cmp(&(b_info.data_offsets, b)));
        let mut by_name: Vec<usize> = (0..tensors.len()).collect();
        by_name.sort_by(|&a, &b| tensors[a].0.cmp(&tensors[b].0));
        if let Some(pair) = by_name.windows(2).find(|pair| tensors[pair[0]].0 == tensors[pair[1]].0) {
            return Err(format!("corrupt header: tensor {:?} appears twice", tensors[pair[0]].0));
        }
        Ok(Header {
            metadata,
            tensors,
            by_name,
        })
    }

    /// Checks the tensor table — offsets that tile the data without gaps or overlaps, byte sizes that match shapes
    /// and dtypes, no empty tensors — in a fixed order (by offsets, then name), so that a corrupt file always gets
    /// the same message, and with checked arithmetic, so that sizes and offsets near `usize::MAX` are errors, not
    /// overflows. Then checks that the data ends where the file's `data_len` bytes of data end.
    pub(crate) fn check_table(&self, data_len: u64) -> Check<()> {
        let mut end_of_previous = 0_usize;
        for (name, info) in &self.tensors {
            let (dtype, shape, (start, end)) = (info.dtype, &info.shape, info.data_offsets);
            if start != end_of_previous || end < start {
                return Err(format!(
                    "corrupt header: tensor {name:?} has data offsets [{start}, {end}], but the previous tensor ends \
                     at {end_of_previous}: the tensors' data must follow one another without gaps or overlaps"
                ));
            }
            let elements = shape.iter().try_fold(1_usize, |n, &d| n.checked_mul(d));
            let Some(bits) = elements.and_then(|n| n.checked_mul(dtype.bitsize())) else {
                return Err(format!(
                    "corrupt header: tensor {name:?} has shape {}, too large to address",
                    shape_text(shape)
                ));
            };
            if bits == 0 {
                return Err(format!(
                    "tensor {name:?} has shape {} and holds nothing: autoencoder files have no empty tensors \
                     (every layer needs at least one input and one output)",
                    shape_text(shape)
                ));
            }
            if bits % 8 != 0 {
                return Err(format!(
                    "corrupt header: tensor {name:?} has dtype {dtype} and shape {}, which take {bits} bits, not a \
                     whole number of bytes",
                    shape_text(shape)
                ));
            }
            if bits / 8 != end - start {
                return Err(format!(
                    "corrupt header: tensor {name:?} has dtype {dtype} and shape {}, which take {} bytes, but its \
                     data offsets [{start}, {end}] span {} bytes",
                    shape_text(shape),
                    bits / 8,
                    end - start
                ));
            }
            end_of_previous = end;
        }
        let declared = end_of_previous as u64;
        if declared != data_len {
            return Err(data_size_mismatch(declared, data_len));
        }
        Ok(())
    }

    /// The end of the last tensor's data (0 without tensors): the data's size, once [`check_table`] passed.
    ///
    /// [`check_table`]: Header::check_table
    pub(crate) fn data_len(&self) -> usize {
        self.tensors.last().map_or(0, |(_, info)| info.data_offsets.1)
    }

    /// The tensor called `name`.
    pub(crate) fn info(&self, name: &str) -> Option<&TensorInfo> {
        let index = self
            .by_name
            .binary_search_by(|&i| self.tensors[i].0.as_str().cmp(name))
            .ok()?;
        Some(&self.tensors[self.by_name[index]].1)
    }

    /// The tensors' names, in the order of their data.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(name, _)| name.as_str())
    }

    /// The number of tensors.
    pub(crate) fn len(&self) -> usize {
        self.tensors.len()
    }

    /// The `format` in `__metadata__`, if any.
    pub(crate) fn format(&self) -> Option<&str> {
        self.metadata.as_ref()?.get("format").map(String::as_str)
    }

    /// Takes `__metadata__` out of the header.
    pub(crate) fn take_metadata(&mut self) -> Option<HashMap<String, String>> {
        self.metadata.take()
    }
}

/// What the JSON holds, in the order it holds it.
struct Parsed {
    metadata: Option<HashMap<String, String>>,
    tensors: Vec<(String, TensorInfo)>,
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Parsed, D::Error> {
        deserializer.deserialize_map(ParsedVisitor)
    }
}

/// Reads the header's object entry by entry: `__metadata__` as a map of strings, anything else as a tensor, each
/// straight into its type, so that a value of the wrong kind stops the parse at its first byte.
struct ParsedVisitor;

impl<'de> Visitor<'de> for ParsedVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of tensors (dtype, shape, data_offsets) and __metadata__")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut metadata: Option<Option<HashMap<String, String>>> = None;
        let mut tensors = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                if metadata.is_some() {
                    return Err(A::Error::custom("__metadata__ appears twice"));
                }
                metadata = Some(map.next_value()?);
            } else {
                let info: TensorInfo = map.next_value()?;
                tensors.push((name, info));
            }
        }
        Ok(Parsed {
            metadata: metadata.flatten(),
            tensors,
        })
    }
}
