//! Explaining a bad magic number: what the first bytes of a file that is not IDX actually look like.

/// How many bytes from the start of the input the reader hands to [`bad_magic`].
pub(super) const SNIFF_LEN: usize = 512;

/// The message for input whose first bytes are not an IDX magic number.
///
/// `head` is the start of the input (after gzip decompression when `gzipped`), at least one byte and at most
/// [`SNIFF_LEN`] of them.
pub(super) fn bad_magic(head: &[u8], gzipped: bool) -> String {
    let found = describe_magic(head);
    let layout = "an IDX file starts with two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, \
                  0x0D f32, 0x0E f64) and the number of dimensions";

    if head.starts_with(&[0x1F, 0x8B]) {
        // The reader decompresses gzip itself, so gzip seen here was inside gzip.
        return format!(
            "bad magic {found}, the gzip signature 1f 8b: the data is still gzip-compressed after decompressing it \
             once (gzip inside gzip); decompress the file once (e.g. `gunzip -c file.gz > file`) and read the result"
        );
    }
    if head.len() >= 4 && head[2] == 0 && head[3] == 0 && super::ElementType::from_code(head[1]).is_some() {
        return format!(
            "bad magic {found}: this looks like an IDX header written in little-endian byte order (bytes {:02x} {:02x} \
             00 00); IDX is big-endian, with the magic bytes 00 00 {:02x} {:02x}",
            head[0], head[1], head[1], head[0]
        );
    }
    if let Some(what) = other_format(head) {
        return format!("bad magic {found}: this is {what}, not IDX data");
    }
    let text = text_start(head);
    if let Some(text) = text {
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<html") {
            let title = html_title(text).map(|t| format!(" titled {t:?}")).unwrap_or_default();
            return format!(
                "bad magic {found}: this looks like an HTML page{title}, e.g. a download error page saved under \
                 the data file's name; download the file again"
            );
        }
        if lower.starts_with("<?xml") {
            return format!(
                "bad magic {found}: this looks like an XML document (starting {:?}), e.g. an error response from \
                 a download server saved under the data file's name; download the file again",
                snippet(text)
            );
        }
        if lower.starts_with("version https://git-lfs") {
            return format!(
                "bad magic {found}: this is a Git LFS pointer file, not the data itself; fetch the data with \
                 `git lfs pull`"
            );
        }
        return format!(
            "bad magic {found}: this looks like a text file (it starts {:?}), not binary IDX data; {layout}",
            snippet(text)
        );
    }
    let compressed = if gzipped { " after gzip decompression" } else { "" };
    format!("bad magic {found}{compressed}: {layout}")
}

/// `0x12345678` for four bytes or more; the bytes present, in hex, for fewer.
fn describe_magic(head: &[u8]) -> String {
    match head {
        [a, b, c, d, ..] => format!("0x{:08X}", u32::from_be_bytes([*a, *b, *c, *d])),
        short => {
            let hex: Vec<String> = short.iter().map(|b| format!("{b:02x}")).collect();
            format!("(only {} byte(s): {})", short.len(), hex.join(" "))
        }
    }
}

/// Names a few common formats that turn up where an IDX file was expected.
fn other_format(head: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 6] = [
        (b"PK\x03\x04", "a ZIP archive; unzip it first"),
        (b"BZh", "a bzip2-compressed file; decompress it with `bunzip2` first"),
        (
            b"\xFD7zXZ\x00",
            "an xz-compressed file; decompress it with `unxz` first",
        ),
        (
            b"\x28\xB5\x2F\xFD",
            "a zstd-compressed file; decompress it with `unzstd` first",
        ),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive; extract it first"),
        (b"\x93NUMPY", "a NumPy .npy file"),
    ];
    SIGNATURES
        .iter()
        .find(|(signature, _)| head.starts_with(signature))
        .map(|(_, what)| *what)
}

/// The input as text, if it is plainly text: UTF-8 (possibly cut mid-character at the end of `head`), without a
/// byte-order mark, and with no control characters but whitespace.
fn text_start(head: &[u8]) -> Option<&str> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0C'));
    plain.then_some(text)
}

/// The start of the text's first non-blank line, at most 60 characters.
fn snippet(text: &str) -> String {
    let line = text.trim_start().lines().next().unwrap_or_default();
    let mut cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

/// The contents of an HTML page's `<title>`, when it is within the sniffed bytes.
fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = text.get(start..end)?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then(|| title.chars().take(80).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_page_is_named_with_its_title() {
        let page = b"\n  <!DOCTYPE html>\n<html><head><title>\n 404 Not  Found</title></head>";
        let msg = bad_magic(page, false);
        assert!(
            msg.contains("looks like an HTML page titled \"404 Not Found\""),
            "{msg}"
        );
        assert!(msg.contains("download error page"), "{msg}");
    }

    #[test]
    fn text_is_quoted_and_control_bytes_are_not_text() {
        let msg = bad_magic(b"label,pixel0,pixel1\n5,0,0\n", false);
        assert!(
            msg.contains("looks like a text file (it starts \"label,pixel0,pixel1\")"),
            "{msg}"
        );
        assert!(!bad_magic(b"ab\x01cd", false).contains("text"));
        // UTF-8 cut in the middle of a character at the end of the sniffed bytes is still text.
        assert!(bad_magic("héllo wörld".as_bytes().split_last().unwrap().1, false).contains("text file"));
    }

    #[test]
    fn short_heads_show_their_bytes() {
        assert_eq!(describe_magic(&[0xAB, 0x01]), "(only 2 byte(s): ab 01)");
        assert_eq!(describe_magic(&[1, 2, 3, 4, 5]), "0x01020304");
    }

    #[test]
    fn little_endian_and_other_formats_are_recognised() {
        assert!(bad_magic(&[0x03, 0x08, 0, 0], false).contains("little-endian"));
        assert!(bad_magic(b"PK\x03\x04rest", false).contains("ZIP archive"));
        assert!(bad_magic(b"version https://git-lfs.github.com/spec/v1\n", false).contains("git lfs pull"));
        assert!(bad_magic(&[0xFF, 0xFE, 0xFD, 0xFC], true).contains("after gzip decompression"));
    }
}
