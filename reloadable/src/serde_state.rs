//! `migrate: serde`: carrying a plugin's state across layout changes with serde.
//!
//! The running generation saves its state as JSON; the new generation reads it back into
//! its own state type, matching fields by name. Fields that still exist keep their
//! values; fields the new type added take their values from the new type's `Default`
//! (no `#[serde(default)]` needed, though it is honoured); fields it removed are dropped.
//! Nested structs are matched the same way. A field whose type changed so that its saved
//! value no longer fits fails the migration (`HD023`), and the host then refuses the new
//! generation or, under its reset policy, starts it from `Default`.
//!
//! Why JSON: the format must describe itself (field names, not positions) for fields to be
//! matched across two versions of a type, and serde_json is the most used such format and
//! already in hotdev's own dependency graph. It costs compile time only in plugins that
//! turn the `serde` feature on.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Saves `state` as JSON (the save hook that `migrate: serde` generates). Panics, which
/// the hook reports as `HD021`, if the state cannot be serialised (a map with non-string
/// keys, or a `Serialize` implementation that fails).
pub fn save<T: Serialize>(state: &T) -> Vec<u8> {
    match serde_json::to_vec(state) {
        Ok(bytes) => bytes,
        Err(error) => panic!("could not save the state as JSON: {error}"),
    }
}

/// Reads a state saved by [`save`] (perhaps from an older version of `T`), filling the
/// fields the saved one lacks from `T::default()` (the restore hook that `migrate: serde`
/// generates).
pub fn restore<T: Serialize + DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, String> {
    let saved: Value = serde_json::from_slice(bytes)
        .map_err(|error| format!("the saved state is not JSON: {error}"))?;
    // As saved: the type did not change, or its serde attributes fill the gaps.
    if let Ok(state) = T::deserialize(&saved) {
        return Ok(state);
    }
    let mut merged = serde_json::to_value(T::default())
        .map_err(|error| format!("could not serialise the new state's Default: {error}"))?;
    overlay(&mut merged, saved);
    T::deserialize(merged).map_err(|error| format!("the saved state does not fit: {error}"))
}

/// Writes `saved` over `base`, key by key in objects, so that keys only `base` has keep
/// its values.
fn overlay(base: &mut Value, saved: Value) {
    match (base, saved) {
        (Value::Object(base), Value::Object(saved)) => {
            for (key, value) in saved {
                match base.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

// `RString` and `RVec` implement `Serialize` and `Deserialize` in `ffi` (same feature).

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RString, RVec};
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct V1 {
        count: u64,
        name: RString,
        gone: bool,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: u32,
        b: u32,
    }

    impl Default for Inner {
        fn default() -> Self {
            Inner { a: 1, b: 2 }
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V2 {
        count: u64,
        name: RString,
        added: u32,
        inner: Inner,
        list: RVec<u8>,
    }

    impl Default for V2 {
        fn default() -> Self {
            V2 {
                count: 0,
                name: "".into(),
                added: 7,
                inner: Inner::default(),
                list: vec![9].into(),
            }
        }
    }

    #[test]
    fn kept_fields_keep_their_values_and_new_ones_take_the_default() {
        let old = V1 {
            count: 41,
            name: "ada".into(),
            gone: true,
        };
        let new: V2 = restore(&save(&old)).unwrap();
        assert_eq!(
            new,
            V2 {
                count: 41,
                name: "ada".into(),
                added: 7,
                inner: Inner { a: 1, b: 2 },
                list: vec![9].into(),
            }
        );
    }

    #[test]
    fn nested_structs_are_matched_field_by_field() {
        let saved = br#"{"count":1,"name":"x","added":3,"inner":{"a":10},"list":[1,2]}"#;
        let new: V2 = restore(saved).unwrap();
        assert_eq!(new.inner, Inner { a: 10, b: 2 });
        assert_eq!(&*new.list, &[1, 2]);
        assert_eq!(new.added, 3);
    }

    #[test]
    fn a_value_that_no_longer_fits_is_an_error_naming_it() {
        let error = restore::<V2>(br#"{"count":"many"}"#).unwrap_err();
        assert!(error.contains("does not fit"), "{error}");
        let error = restore::<V2>(b"\x00\x01").unwrap_err();
        assert!(error.contains("not JSON"), "{error}");
    }
}
