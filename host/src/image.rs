//! The loaded image of a library: where the loader mapped each of its segments, with what
//! permissions. Every pointer the host follows out of a plugin's descriptor must lie inside
//! it (data in a readable segment, code in an executable one), so a descriptor with null or
//! wild pointers is refused instead of crashing the host.

use std::path::Path;

/// One mapped segment, as absolute addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

/// A library's mapped segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Where the library's virtual address 0 is mapped.
    pub base: usize,
    /// Its `PT_LOAD` segments.
    pub segments: Vec<Segment>,
    /// The range the loader makes read-only after relocation (`PT_GNU_RELRO`), if any.
    pub relro: Option<(usize, usize)>,
}

impl Image {
    /// The image of the library loaded from `path` (the exact path given to the loader):
    /// `None` where it cannot be found (not loaded, or a platform without
    /// `dl_iterate_phdr`).
    pub fn of_loaded(path: &Path) -> Option<Image> {
        crate::os::loaded_image(path)
    }

    /// Whether `len` bytes at `addr` lie in one readable segment.
    pub fn holds_data(&self, addr: usize, len: usize) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        addr != 0
            && self
                .segments
                .iter()
                .any(|s| s.read && s.start <= addr && end <= s.end)
    }

    /// Whether `addr` lies in an executable segment.
    pub fn holds_code(&self, addr: usize) -> bool {
        addr != 0
            && self
                .segments
                .iter()
                .any(|s| s.exec && s.start <= addr && addr < s.end)
    }

    /// Whether `addr` lies anywhere in the image.
    pub fn contains(&self, addr: usize) -> bool {
        self.segments
            .iter()
            .any(|s| s.start <= addr && addr < s.end)
    }

    /// The lowest and highest address of the image.
    pub fn span(&self) -> (usize, usize) {
        let start = self.segments.iter().map(|s| s.start).min().unwrap_or(0);
        let end = self.segments.iter().map(|s| s.end).max().unwrap_or(0);
        (start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image {
            base: 0x1000,
            segments: vec![
                Segment {
                    start: 0x1000,
                    end: 0x2000,
                    read: true,
                    write: false,
                    exec: false,
                },
                Segment {
                    start: 0x2000,
                    end: 0x3000,
                    read: true,
                    write: false,
                    exec: true,
                },
            ],
            relro: None,
        }
    }

    #[test]
    fn data_must_fit_in_one_readable_segment_and_code_be_executable() {
        let img = image();
        assert!(img.holds_data(0x1000, 0x1000));
        assert!(!img.holds_data(0x1ff8, 0x10), "straddles two segments");
        assert!(!img.holds_data(0, 8), "null");
        assert!(!img.holds_data(0xdead_0000, 8), "wild");
        assert!(!img.holds_data(usize::MAX - 2, 8), "wraps around");
        assert!(img.holds_code(0x2800));
        assert!(!img.holds_code(0x1800), "data is not code");
        assert_eq!(img.span(), (0x1000, 0x3000));
    }
}
