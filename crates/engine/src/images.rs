//! Images a run leaves in its work dir (a plot saved as `plot.png`), handed back with the run
//! stage so a page can show them. Read by the sandbox's collector (never following a planted
//! link), bounded in count and bytes; what does not fit is listed as skipped, never an error.

use sandbox::{Collect, InputFile, OutputFile, SkipReason};

/// Images returned per run: a few plots, not a gallery.
pub const MAX_IMAGE_FILES: usize = 8;
/// Bytes of images returned per run, all together: a handful of PNG plots fit, and base64
/// in a JSON answer stays a few MiB.
pub const MAX_IMAGE_BYTES: u64 = 4 << 20;
/// Images listed as skipped (name and size, no content) past the limits above.
pub const MAX_SKIPPED_IMAGES: usize = 8;
/// File names (ASCII case-insensitive) that count as images.
pub const IMAGE_SUFFIXES: &[&str] = &[".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"];

/// One image of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Path below the work dir (`plot.png`, `out/fig1.svg`).
    pub name: String,
    /// From the name's suffix (`image/png`, `image/svg+xml`...).
    pub mime: &'static str,
    /// Bytes.
    pub size: u64,
    /// The file's bytes; `None` when it was skipped.
    pub content: Option<Vec<u8>>,
    /// Why it was not returned (a limit, in words); `None` when it was.
    pub skipped: Option<String>,
}

/// What the sandbox reads back after a run that asked for images.
pub(crate) fn collect() -> Collect {
    Collect {
        max_files: MAX_IMAGE_FILES,
        max_total_bytes: MAX_IMAGE_BYTES,
        suffixes: IMAGE_SUFFIXES,
        max_skipped: MAX_SKIPPED_IMAGES,
    }
}

/// The images among the files read back; the job's own input files, unchanged, are not news
/// to its caller and are left out.
pub(crate) fn from_outputs(files: Vec<OutputFile>, inputs: &[InputFile]) -> Vec<Image> {
    files
        .into_iter()
        .filter(|f| f.skipped.is_some() || !inputs.iter().any(|i| i.path == f.path && i.content == f.content))
        .map(|f| Image {
            mime: mime(&f.path),
            size: f.size,
            skipped: f.skipped.map(|reason| match reason {
                SkipReason::TooManyFiles => format!("over the limit of {MAX_IMAGE_FILES} images per run"),
                SkipReason::TooManyBytes => format!("over the limit of {MAX_IMAGE_BYTES} bytes of images per run"),
            }),
            content: f.skipped.is_none().then_some(f.content),
            name: f.path,
        })
        .collect()
}

/// The media type of an image file, by its suffix.
pub fn mime(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let suffix = lower.rsplit_once('.').map_or("", |(_, s)| s);
    match suffix {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suffix_has_an_image_type() {
        for suffix in IMAGE_SUFFIXES {
            let m = mime(&format!("a{}", suffix.to_uppercase()));
            assert!(m.starts_with("image/"), "{suffix}: {m}");
        }
        assert_eq!(mime("plot.svg"), "image/svg+xml");
    }

    #[test]
    fn skipped_files_say_which_limit_and_inputs_are_left_out() {
        let file = |path: &str, content: &[u8], skipped: Option<SkipReason>| OutputFile {
            path: path.into(),
            content: content.to_vec(),
            executable: false,
            size: if skipped.is_some() {
                9 << 20
            } else {
                content.len() as u64
            },
            skipped,
        };
        let inputs = [InputFile {
            path: "given.png".into(),
            content: b"mine".to_vec(),
            executable: false,
            read_only: false,
        }];
        let images = from_outputs(
            vec![
                file("a.png", b"\x89PNG", None),
                file("given.png", b"mine", None),
                file("big.png", b"", Some(SkipReason::TooManyBytes)),
                file("z.gif", b"", Some(SkipReason::TooManyFiles)),
            ],
            &inputs,
        );
        let skipped = |name: &str, mime, skipped: String| Image {
            name: name.into(),
            mime,
            size: 9 << 20,
            content: None,
            skipped: Some(skipped),
        };
        assert_eq!(
            images,
            [
                Image {
                    name: "a.png".into(),
                    mime: "image/png",
                    size: 4,
                    content: Some(b"\x89PNG".to_vec()),
                    skipped: None,
                },
                skipped(
                    "big.png",
                    "image/png",
                    format!("over the limit of {MAX_IMAGE_BYTES} bytes of images per run")
                ),
                skipped(
                    "z.gif",
                    "image/gif",
                    format!("over the limit of {MAX_IMAGE_FILES} images per run")
                ),
            ]
        );
    }
}
