//! [`RString`], a `String` in the system allocator.

use std::borrow::{Borrow, BorrowMut};
use std::cmp::Ordering;
use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Add, AddAssign, Deref, DerefMut};
use std::str::FromStr;

use super::RVec;

/// A UTF-8 string allocated with the system allocator, safe to pass across the plugin
/// boundary by value and to drop on either side.
///
/// It dereferences to `str` and compares, orders and hashes like the `str` it holds, so a
/// `HashMap<RString, V>` or `BTreeMap<RString, V>` can be looked up with a `&str`. Every
/// mutator keeps the contents valid UTF-8; those taking a byte index panic, like `String`'s,
/// if it is not on a char boundary.
#[repr(C)]
#[derive(Clone, Default)]
pub struct RString {
    bytes: RVec<u8>,
}

impl RString {
    /// An empty string; does not allocate.
    pub const fn new() -> Self {
        RString { bytes: RVec::new() }
    }

    /// An empty string with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        RString {
            bytes: RVec::with_capacity(cap),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor and mutator keeps `bytes` valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.bytes.as_slice()) }
    }

    /// The string, mutably (for in-place methods such as `make_ascii_uppercase`).
    pub fn as_mut_str(&mut self) -> &mut str {
        // SAFETY: `bytes` is valid UTF-8 (as in `as_str`), and safe code cannot make a
        // `&mut str` invalid UTF-8.
        unsafe { std::str::from_utf8_unchecked_mut(self.bytes.as_mut_slice()) }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of bytes the string can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Makes room for at least `extra` more bytes.
    pub fn reserve(&mut self, extra: usize) {
        self.bytes.reserve(extra);
    }

    /// Appends a string.
    pub fn push_str(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// Appends a char.
    pub fn push(&mut self, ch: char) {
        self.push_str(ch.encode_utf8(&mut [0; 4]));
    }

    /// Removes and returns the last char, or `None` if the string is empty.
    pub fn pop(&mut self) -> Option<char> {
        let ch = self.as_str().chars().next_back()?;
        self.bytes.truncate(self.len() - ch.len_utf8());
        Some(ch)
    }

    /// Shortens the string to `new_len` bytes; does nothing if it is not longer.
    ///
    /// # Panics
    /// If `new_len` is inside the string but not on a char boundary.
    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            assert!(
                self.is_char_boundary(new_len),
                "new_len ({new_len}) is not on a char boundary"
            );
            self.bytes.truncate(new_len);
        }
    }

    /// Empties the string, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Inserts a char at byte index `idx`.
    ///
    /// # Panics
    /// If `idx` is past the end or not on a char boundary.
    pub fn insert(&mut self, idx: usize, ch: char) {
        self.insert_str(idx, ch.encode_utf8(&mut [0; 4]));
    }

    /// Inserts a string at byte index `idx`.
    ///
    /// # Panics
    /// If `idx` is past the end or not on a char boundary.
    pub fn insert_str(&mut self, idx: usize, s: &str) {
        let len = self.len();
        assert!(
            idx <= len,
            "byte index {idx} is past the end of a string of length {len}"
        );
        assert!(
            self.is_char_boundary(idx),
            "byte index {idx} is not a char boundary"
        );
        self.bytes.insert_copied(idx, s.as_bytes());
    }

    /// Removes and returns the char at byte index `idx`.
    ///
    /// # Panics
    /// If `idx` is at or past the end, or not on a char boundary.
    pub fn remove(&mut self, idx: usize) -> char {
        let Some(ch) = self[idx..].chars().next() else {
            panic!("cannot remove a char from the end of a string");
        };
        self.bytes.drain(idx..idx + ch.len_utf8());
        ch
    }

    /// Keeps only the chars for which `keep` returns `true`, in order.
    ///
    /// If `keep` panics, the string keeps the chars not yet examined and those kept so far.
    pub fn retain<F: FnMut(char) -> bool>(&mut self, mut keep: F) {
        /// Closes the gap left by removed chars when retaining ends, even by a panic, so
        /// the bytes are UTF-8 again before anyone can see them.
        struct Compact<'a> {
            bytes: &'a mut RVec<u8>,
            /// Bytes `..write` are the kept chars, `read..` the chars not yet examined.
            read: usize,
            write: usize,
        }
        impl Drop for Compact<'_> {
            fn drop(&mut self) {
                if self.read != self.write {
                    let len = self.bytes.len();
                    self.bytes.copy_within(self.read..len, self.write);
                    self.bytes.truncate(len - (self.read - self.write));
                }
            }
        }

        let len = self.len();
        let mut c = Compact {
            bytes: &mut self.bytes,
            read: 0,
            write: 0,
        };
        while c.read < len {
            // `read..` is untouched UTF-8, so `read` starts a char.
            let width = utf8_char_width(c.bytes[c.read]);
            let ch = std::str::from_utf8(&c.bytes[c.read..c.read + width])
                .ok()
                .and_then(|s| s.chars().next())
                .expect("an RString holds UTF-8");
            if keep(ch) {
                if c.write != c.read {
                    let (read, write) = (c.read, c.write);
                    c.bytes.copy_within(read..read + width, write);
                }
                c.write += width;
            }
            c.read += width;
        }
    }

    /// Moves the bytes out as a vector.
    pub fn into_bytes(self) -> RVec<u8> {
        self.bytes
    }

    /// Copies the string into a `String` allocated by the caller's global allocator.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

/// The length in bytes of the UTF-8 char that starts with `first`.
fn utf8_char_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Deref for RString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl DerefMut for RString {
    fn deref_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl AsRef<str> for RString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsMut<str> for RString {
    fn as_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl AsRef<[u8]> for RString {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for RString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl BorrowMut<str> for RString {
    fn borrow_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl From<&str> for RString {
    fn from(s: &str) -> Self {
        let mut out = RString::with_capacity(s.len());
        out.push_str(s);
        out
    }
}

impl From<&String> for RString {
    fn from(s: &String) -> Self {
        RString::from(s.as_str())
    }
}

impl From<String> for RString {
    fn from(s: String) -> Self {
        RString::from(s.as_str())
    }
}

impl From<char> for RString {
    fn from(ch: char) -> Self {
        RString::from(&*ch.encode_utf8(&mut [0; 4]))
    }
}

impl From<RString> for String {
    fn from(s: RString) -> Self {
        s.into_string()
    }
}

impl FromStr for RString {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(RString::from(s))
    }
}

impl fmt::Display for RString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for RString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Appends to the string, so `write!` works on it.
impl fmt::Write for RString {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }

    fn write_char(&mut self, ch: char) -> fmt::Result {
        self.push(ch);
        Ok(())
    }
}

impl PartialEq for RString {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for RString {}

impl PartialEq<str> for RString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for RString {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<RString> for str {
    fn eq(&self, other: &RString) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<RString> for &str {
    fn eq(&self, other: &RString) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<RString> for String {
    fn eq(&self, other: &RString) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for RString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RString {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes like `str` (and so like `String`), as [`Borrow<str>`](Borrow) requires.
impl Hash for RString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Add<&str> for RString {
    type Output = RString;
    fn add(mut self, rhs: &str) -> RString {
        self.push_str(rhs);
        self
    }
}

impl AddAssign<&str> for RString {
    fn add_assign(&mut self, rhs: &str) {
        self.push_str(rhs);
    }
}

impl Extend<char> for RString {
    fn extend<I: IntoIterator<Item = char>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for ch in iter {
            self.push(ch);
        }
    }
}

impl<'a> Extend<&'a char> for RString {
    fn extend<I: IntoIterator<Item = &'a char>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<'a> Extend<&'a str> for RString {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(s);
        }
    }
}

impl Extend<String> for RString {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(&s);
        }
    }
}

impl Extend<RString> for RString {
    fn extend<I: IntoIterator<Item = RString>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(&s);
        }
    }
}

impl FromIterator<char> for RString {
    fn from_iter<I: IntoIterator<Item = char>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl<'a> FromIterator<&'a char> for RString {
    fn from_iter<I: IntoIterator<Item = &'a char>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl<'a> FromIterator<&'a str> for RString {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl FromIterator<String> for RString {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl FromIterator<RString> for RString {
    fn from_iter<I: IntoIterator<Item = RString>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rstring_behaves_like_a_string() {
        let mut s = RString::from("hello");
        s.push_str(", world");
        assert_eq!(s, "hello, world");
        assert_eq!(format!("{s}"), "hello, world");
        assert_eq!(String::from(s.clone()), "hello, world");
        assert_eq!(RString::new().as_str(), "");
    }
}
