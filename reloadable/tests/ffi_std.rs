//! `RVec` and `RString` behave like `Vec` and `String`: each method against its std
//! counterpart, edge cases included, and drop counting to prove that no element is leaked
//! or dropped twice (also when a callback or a destructor panics).

use reloadable::ffi::IntoIter;
use reloadable::{RString, RVec};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, RandomState};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

// --- drop counting

/// Records the ids of dropped values, in order.
type DropLog = Rc<RefCell<Vec<usize>>>;

/// A value that records its id in a shared log when dropped, and can be told to panic
/// while being dropped.
#[derive(Debug)]
struct Counted {
    id: usize,
    log: DropLog,
    panic_on_drop: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.log.borrow_mut().push(self.id);
        if self.panic_on_drop {
            panic!("drop of {} panicked", self.id);
        }
    }
}

/// `n` counted values with ids `0..n`, and their log.
fn counted(n: usize) -> (RVec<Counted>, DropLog) {
    let log = DropLog::default();
    let v = (0..n)
        .map(|id| Counted {
            id,
            log: log.clone(),
            panic_on_drop: false,
        })
        .collect();
    (v, log)
}

/// The dropped ids, sorted, to compare with the ids that should have been dropped once.
fn dropped(log: &DropLog) -> Vec<usize> {
    let mut ids = log.borrow().clone();
    ids.sort_unstable();
    ids
}

fn ids(v: &[Counted]) -> Vec<usize> {
    v.iter().map(|c| c.id).collect()
}

fn hash_of<T: Hash + ?Sized>(state: &RandomState, value: &T) -> u64 {
    state.hash_one(value)
}

// --- RVec: adding and removing

#[test]
fn rvec_pop_returns_the_last_element_and_none_when_empty() {
    let mut v: RVec<i32> = [1, 2, 3].into();
    assert_eq!(v.pop(), Some(3));
    assert_eq!(v.pop(), Some(2));
    assert_eq!(v.pop(), Some(1));
    assert_eq!(v.pop(), None);
    assert_eq!(v.pop(), None);
    assert!(v.is_empty());
    let mut empty = RVec::<i32>::new();
    assert_eq!(empty.pop(), None);
}

#[test]
fn rvec_pop_moves_the_element_out_without_dropping_it() {
    let (mut v, log) = counted(3);
    let last = v.pop().unwrap();
    assert_eq!(last.id, 2);
    assert!(log.borrow().is_empty());
    drop(last);
    assert_eq!(dropped(&log), [2]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2]);
}

#[test]
fn rvec_clear_drops_every_element_once_and_keeps_the_capacity() {
    let (mut v, log) = counted(5);
    let cap = v.capacity();
    v.clear();
    assert!(v.is_empty());
    assert_eq!(v.capacity(), cap);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4]);
}

#[test]
fn rvec_truncate_drops_the_tail_and_ignores_lengths_past_the_end() {
    let (mut v, log) = counted(5);
    v.truncate(5);
    v.truncate(100);
    assert_eq!(v.len(), 5);
    assert!(log.borrow().is_empty());
    v.truncate(2);
    assert_eq!(ids(&v), [0, 1]);
    assert_eq!(dropped(&log), [2, 3, 4]);
    v.truncate(0);
    assert!(v.is_empty());
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4]);
}

#[test]
fn rvec_truncate_drops_the_rest_when_a_destructor_panics() {
    let (mut v, log) = counted(4);
    v[1].panic_on_drop = true;
    let r = catch_unwind(AssertUnwindSafe(|| v.truncate(1)));
    assert!(r.is_err());
    assert_eq!(v.len(), 1);
    assert_eq!(dropped(&log), [1, 2, 3]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3]);
}

#[test]
fn rvec_insert_shifts_later_elements_right() {
    let mut v = RVec::new();
    v.insert(0, 'b');
    v.insert(0, 'a');
    v.insert(2, 'd');
    v.insert(2, 'c');
    assert_eq!(v, ['a', 'b', 'c', 'd']);
    let mut std_v = vec!['a', 'b', 'c', 'd'];
    for (i, ch) in [(4, 'x'), (0, 'y'), (3, 'z')] {
        v.insert(i, ch);
        std_v.insert(i, ch);
    }
    assert_eq!(v, std_v);
}

#[test]
#[should_panic(expected = "insertion index (is 2) should be <= len (is 1)")]
fn rvec_insert_past_the_end_panics() {
    let mut v: RVec<u8> = [1].into();
    v.insert(2, 0);
}

#[test]
fn rvec_remove_shifts_later_elements_left() {
    let (mut v, log) = counted(5);
    assert_eq!(v.remove(2).id, 2);
    assert_eq!(v.remove(0).id, 0);
    assert_eq!(v.remove(2).id, 4);
    assert_eq!(ids(&v), [1, 3]);
    assert_eq!(dropped(&log), [0, 2, 4]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4]);
}

#[test]
#[should_panic(expected = "removal index (is 3) should be < len (is 3)")]
fn rvec_remove_out_of_bounds_panics() {
    let mut v: RVec<u8> = [1, 2, 3].into();
    v.remove(3);
}

#[test]
#[should_panic(expected = "removal index (is 0) should be < len (is 0)")]
fn rvec_remove_from_empty_panics() {
    RVec::<u8>::new().remove(0);
}

#[test]
fn rvec_swap_remove_moves_the_last_element_into_the_hole() {
    let mut v: RVec<i32> = [10, 20, 30, 40].into();
    assert_eq!(v.swap_remove(1), 20);
    assert_eq!(v, [10, 40, 30]);
    assert_eq!(v.swap_remove(2), 30);
    assert_eq!(v, [10, 40]);
    assert_eq!(v.swap_remove(0), 10);
    assert_eq!(v.swap_remove(0), 40);
    assert!(v.is_empty());
}

#[test]
#[should_panic(expected = "swap_remove index (is 1) should be < len (is 1)")]
fn rvec_swap_remove_out_of_bounds_panics() {
    let mut v: RVec<u8> = [1].into();
    v.swap_remove(1);
}

// --- RVec: retain

#[test]
fn rvec_retain_keeps_matching_elements_in_order() {
    let mut v: RVec<i32> = (0..10).collect();
    v.retain(|&n| n % 3 != 0);
    assert_eq!(v, [1, 2, 4, 5, 7, 8]);
}

#[test]
fn rvec_retain_keeping_all_drops_nothing() {
    let (mut v, log) = counted(4);
    v.retain(|_| true);
    assert_eq!(ids(&v), [0, 1, 2, 3]);
    assert!(log.borrow().is_empty());
}

#[test]
fn rvec_retain_removing_all_drops_each_once() {
    let (mut v, log) = counted(4);
    v.retain(|_| false);
    assert!(v.is_empty());
    assert_eq!(dropped(&log), [0, 1, 2, 3]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3]);
}

#[test]
fn rvec_retain_drops_exactly_the_removed_elements() {
    let (mut v, log) = counted(6);
    v.retain(|c| c.id % 2 == 1);
    assert_eq!(ids(&v), [1, 3, 5]);
    assert_eq!(dropped(&log), [0, 2, 4]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn rvec_retain_mut_can_change_the_kept_elements() {
    let mut v: RVec<i32> = (1..=6).collect();
    v.retain_mut(|n| {
        *n *= 10;
        *n != 30
    });
    assert_eq!(v, [10, 20, 40, 50, 60]);
}

#[test]
fn rvec_retain_leaves_a_consistent_vector_when_the_predicate_panics() {
    let (mut v, log) = counted(6);
    let r = catch_unwind(AssertUnwindSafe(|| {
        v.retain(|c| {
            assert!(c.id != 3, "predicate panicked");
            c.id % 2 == 1
        })
    }));
    assert!(r.is_err());
    // 0 and 2 were removed, 1 kept; 3 (where it panicked), 4 and 5 were not examined.
    assert_eq!(ids(&v), [1, 3, 4, 5]);
    assert_eq!(dropped(&log), [0, 2]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn rvec_retain_leaves_a_consistent_vector_when_a_destructor_panics() {
    let (mut v, log) = counted(5);
    v[1].panic_on_drop = true;
    let r = catch_unwind(AssertUnwindSafe(|| v.retain(|c| c.id != 1 && c.id != 3)));
    assert!(r.is_err());
    // 1 was removed (its drop panicked); 2..5 were not examined and stay.
    assert_eq!(ids(&v), [0, 2, 3, 4]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4]);
}

// --- RVec: extend and conversions

#[test]
fn rvec_extend_appends_values_references_and_clones() {
    let mut v: RVec<u32> = RVec::new();
    v.extend(1..=3);
    v.extend(&[4, 5]);
    v.extend([6].iter());
    v.extend_from_slice(&[7, 8]);
    v.extend(std::iter::empty::<u32>());
    assert_eq!(v, (1..=8).collect::<Vec<_>>());

    let mut names: RVec<String> = RVec::new();
    let source = vec!["a".to_string(), "b".to_string()];
    names.extend_from_slice(&source);
    names.extend(source.clone());
    assert_eq!(names, ["a", "b", "a", "b"].map(String::from));
}

#[test]
fn rvec_converts_to_and_from_std_types() {
    let v = RVec::from([1u8, 2, 3]);
    assert_eq!(v.len(), 3);
    let back: Vec<u8> = v.clone().into();
    assert_eq!(back, [1, 2, 3]);
    assert_eq!(Vec::from(v.clone()), v.clone().into_vec());
    assert_eq!(RVec::from(vec![String::from("x")]), [String::from("x")]);
    assert_eq!(RVec::from(&[1u8, 2, 3][..]), v);
    assert_eq!(vec![1u8, 2, 3], v);
    assert_eq!(v, &[1u8, 2, 3][..]);
    assert_eq!(*v, [1u8, 2, 3]);
    assert_eq!(RVec::<u8>::from([]), []);
}

#[test]
fn rvec_as_ref_as_mut_and_borrow_give_the_slice() {
    use std::borrow::Borrow;
    let mut v: RVec<i32> = [1, 2, 3].into();
    let slice: &[i32] = v.as_ref();
    assert_eq!(slice, [1, 2, 3]);
    let slice: &[i32] = v.borrow();
    assert_eq!(slice, [1, 2, 3]);
    v.as_mut()[0] = 9;
    assert_eq!(v, [9, 2, 3]);
}

#[test]
fn rvec_capacity_and_shrink_to_fit() {
    let mut v: RVec<u64> = RVec::with_capacity(10);
    assert!(v.capacity() >= 10);
    assert!(v.is_empty());
    v.extend([1, 2, 3]);
    v.shrink_to_fit();
    assert_eq!(v.capacity(), 3);
    assert_eq!(v, [1, 2, 3]);
    v.push(4);
    assert_eq!(v, [1, 2, 3, 4]);
    v.clear();
    v.shrink_to_fit();
    assert_eq!(v.capacity(), 0);
    v.push(5);
    assert_eq!(v, [5]);
    assert_eq!(RVec::<u8>::new().capacity(), 0);
}

// --- RVec: iteration

#[test]
fn rvec_iterates_by_value_from_both_ends() {
    let v: RVec<String> = ["a", "b", "c", "d"].map(String::from).into();
    let mut it = v.into_iter();
    assert_eq!(it.len(), 4);
    assert_eq!(it.next().as_deref(), Some("a"));
    assert_eq!(it.next_back().as_deref(), Some("d"));
    assert_eq!(it.as_slice(), ["b", "c"]);
    assert_eq!(it.size_hint(), (2, Some(2)));
    let rest: Vec<String> = it.collect();
    assert_eq!(rest, ["b", "c"]);

    let mut it = RVec::<u8>::new().into_iter();
    assert_eq!(it.next(), None);
    assert_eq!(it.next_back(), None);

    let v: RVec<i32> = (0..5).collect();
    let mut sum = 0;
    for n in v {
        sum += n;
    }
    assert_eq!(sum, 10);
}

#[test]
fn rvec_by_value_iterator_partly_consumed_drops_the_rest_once() {
    let (v, log) = counted(6);
    let mut it = v.into_iter();
    let first = it.next().unwrap();
    let last = it.next_back().unwrap();
    assert!(log.borrow().is_empty());
    drop(it);
    assert_eq!(dropped(&log), [1, 2, 3, 4]);
    drop((first, last));
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn rvec_by_value_iterator_drops_the_rest_when_a_destructor_panics() {
    let (mut v, log) = counted(4);
    v[1].panic_on_drop = true;
    let it: IntoIter<Counted> = v.into_iter();
    let r = catch_unwind(AssertUnwindSafe(|| drop(it)));
    assert!(r.is_err());
    assert_eq!(dropped(&log), [0, 1, 2, 3]);
}

#[test]
fn rvec_by_value_iterator_clones_its_remaining_elements() {
    let v: RVec<i32> = [1, 2, 3].into();
    let mut it = v.into_iter();
    it.next();
    let copy = it.clone();
    assert_eq!(it.collect::<Vec<_>>(), [2, 3]);
    assert_eq!(copy.collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn rvec_iterates_by_reference_and_mutable_reference() {
    let mut v: RVec<i32> = [1, 2, 3].into();
    for n in &mut v {
        *n *= 2;
    }
    let mut seen = Vec::new();
    for n in &v {
        seen.push(*n);
    }
    assert_eq!(seen, [2, 4, 6]);
}

// --- RVec: drain

#[test]
fn rvec_drain_removes_a_range_and_closes_the_gap() {
    let mut v: RVec<i32> = (0..8).collect();
    let mut std_v: Vec<i32> = (0..8).collect();
    assert_eq!(
        v.drain(2..5).collect::<Vec<_>>(),
        std_v.drain(2..5).collect::<Vec<_>>()
    );
    assert_eq!(v, std_v);
    assert_eq!(
        v.drain(..=1).rev().collect::<Vec<_>>(),
        std_v.drain(..=1).rev().collect::<Vec<_>>()
    );
    assert_eq!(v, std_v);
    assert_eq!(v.drain(1..1).count(), 0);
    assert_eq!(v, std_v);
    assert_eq!(v.drain(1..).collect::<Vec<_>>(), [6, 7]);
    assert_eq!(v, [5]);
    assert_eq!(v.drain(..).collect::<Vec<_>>(), [5]);
    assert!(v.is_empty());
}

#[test]
fn rvec_drain_partly_consumed_drops_the_rest_once() {
    let (mut v, log) = counted(7);
    let mut d = v.drain(1..5);
    assert_eq!(d.len(), 4);
    let taken = d.next().unwrap();
    let taken_back = d.next_back().unwrap();
    assert_eq!((taken.id, taken_back.id), (1, 4));
    assert_eq!(ids(d.as_slice()), [2, 3]);
    drop(d);
    assert_eq!(dropped(&log), [2, 3]);
    assert_eq!(ids(&v), [0, 5, 6]);
    drop((taken, taken_back, v));
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn rvec_drain_moves_the_tail_back_when_a_destructor_panics() {
    let (mut v, log) = counted(6);
    v[2].panic_on_drop = true;
    let r = catch_unwind(AssertUnwindSafe(|| drop(v.drain(1..4))));
    assert!(r.is_err());
    assert_eq!(ids(&v), [0, 4, 5]);
    assert_eq!(dropped(&log), [1, 2, 3]);
    drop(v);
    assert_eq!(dropped(&log), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn rvec_drain_forgotten_keeps_the_front_and_drops_nothing_twice() {
    let (mut v, log) = counted(5);
    std::mem::forget(v.drain(1..3));
    // Like `Vec`, the vector keeps the elements before the range; the rest are leaked.
    assert_eq!(ids(&v), [0]);
    drop(v);
    assert_eq!(dropped(&log), [0]);
    // The four leaked elements (1 to 4) each still hold their clone of the log.
    assert_eq!(Rc::strong_count(&log), 1 + 4);
    // Give those clones back, so that the test leaks nothing itself (Miri checks leaks).
    for _ in 0..4 {
        // SAFETY: each leaked element owns one strong count of `log` and was forgotten, so
        // it will never release it; `log` keeps the count above zero meanwhile.
        unsafe { Rc::decrement_strong_count(Rc::as_ptr(&log)) };
    }
}

#[test]
#[should_panic(expected = "drain range end 4 out of range for length 3")]
fn rvec_drain_past_the_end_panics() {
    let mut v: RVec<u8> = [1, 2, 3].into();
    v.drain(1..4);
}

#[test]
#[should_panic(expected = "drain range starts at 2 but ends at 1")]
fn rvec_drain_backwards_range_panics() {
    let mut v: RVec<u8> = [1, 2, 3].into();
    #[allow(clippy::reversed_empty_ranges)]
    v.drain(2..1);
}

// --- RVec: ordering and hashing

#[test]
fn rvec_orders_like_vec_and_sorts_through_the_slice() {
    let cases: [(&[i32], &[i32]); 6] = [
        (&[], &[]),
        (&[], &[1]),
        (&[1, 2], &[1, 3]),
        (&[1, 2, 3], &[1, 2]),
        (&[2], &[1, 9, 9]),
        (&[5, 5], &[5, 5]),
    ];
    for (a, b) in cases {
        let (ra, rb) = (RVec::from(a), RVec::from(b));
        assert_eq!(ra.cmp(&rb), a.to_vec().cmp(&b.to_vec()), "{a:?} vs {b:?}");
        assert_eq!(ra.partial_cmp(&rb), a.partial_cmp(b), "{a:?} vs {b:?}");
    }
    let floats: (RVec<f64>, RVec<f64>) = ([f64::NAN].into(), [1.0].into());
    assert_eq!(floats.0.partial_cmp(&floats.1), None);

    let mut v: RVec<i32> = [5, 3, 9, 1, 3].into();
    v.sort();
    assert_eq!(v, [1, 3, 3, 5, 9]);
    v.sort_by_key(|&n| std::cmp::Reverse(n));
    assert_eq!(v, [9, 5, 3, 3, 1]);

    let mut nested: Vec<RVec<u8>> = vec![[2].into(), [1, 5].into(), [1].into()];
    nested.sort();
    assert_eq!(
        nested,
        [RVec::from([1]), RVec::from([1, 5]), RVec::from([2])]
    );
}

#[test]
fn rvec_hashes_like_vec_and_slice() {
    let state = RandomState::new();
    for items in [&[][..], &[1u32][..], &[1, 2, 3][..]] {
        let r = RVec::from(items);
        assert_eq!(hash_of(&state, &r), hash_of(&state, &items.to_vec()));
        assert_eq!(hash_of(&state, &r), hash_of(&state, items));
    }
    // Borrow<[T]> lets a set of vectors be searched with a slice.
    let set: HashSet<RVec<u8>> = [RVec::from([1, 2]), RVec::from([3])].into_iter().collect();
    assert!(set.contains(&[1u8, 2][..]));
    assert!(!set.contains(&[1u8][..]));
}

// --- RString: adding and removing

#[test]
fn rstring_push_and_pop_handle_multibyte_chars() {
    let mut s = RString::new();
    for ch in ['a', 'é', '€', '𝄞'] {
        s.push(ch);
    }
    assert_eq!(s, "aé€𝄞");
    assert_eq!(s.len(), 1 + 2 + 3 + 4);
    assert_eq!(s.pop(), Some('𝄞'));
    assert_eq!(s.pop(), Some('€'));
    assert_eq!(s, "aé");
    assert_eq!(s.pop(), Some('é'));
    assert_eq!(s.pop(), Some('a'));
    assert_eq!(s.pop(), None);
    assert!(s.is_empty());
}

#[test]
fn rstring_clear_and_truncate() {
    let mut s = RString::from("héllo");
    s.truncate(100);
    s.truncate(s.len());
    assert_eq!(s, "héllo");
    s.truncate(3);
    assert_eq!(s, "hé");
    s.truncate(0);
    assert_eq!(s, "");
    let mut s = RString::from("abc");
    let cap = s.capacity();
    s.clear();
    assert!(s.is_empty());
    assert_eq!(s.capacity(), cap);
}

#[test]
#[should_panic(expected = "new_len (2) is not on a char boundary")]
fn rstring_truncate_inside_a_char_panics() {
    RString::from("hé").truncate(2);
}

#[test]
fn rstring_insert_and_insert_str_match_string() {
    let mut s = RString::from("ac");
    let mut std_s = String::from("ac");
    for (idx, ch) in [(1, 'b'), (0, '€'), (6, 'é'), (3, '𝄞')] {
        s.insert(idx, ch);
        std_s.insert(idx, ch);
        assert_eq!(s, std_s);
    }
    // At the end, at the start, after "<€", and after "<€mid".
    for (idx, text) in [(s.len(), ">"), (0, "<"), (4, "mid"), (7, "")] {
        s.insert_str(idx, text);
        std_s.insert_str(idx, text);
        assert_eq!(s, std_s);
    }
}

#[test]
#[should_panic(expected = "byte index 2 is not a char boundary")]
fn rstring_insert_inside_a_char_panics() {
    RString::from("aé").insert(2, 'x');
}

#[test]
#[should_panic(expected = "byte index 1 is not a char boundary")]
fn rstring_insert_str_inside_a_char_panics() {
    RString::from("é").insert_str(1, "x");
}

#[test]
#[should_panic(expected = "byte index 4 is past the end of a string of length 3")]
fn rstring_insert_past_the_end_panics() {
    RString::from("abc").insert(4, 'x');
}

#[test]
fn rstring_remove_returns_the_char_and_closes_the_gap() {
    let mut s = RString::from("a€b𝄞");
    assert_eq!(s.remove(1), '€');
    assert_eq!(s, "ab𝄞");
    assert_eq!(s.remove(2), '𝄞');
    assert_eq!(s.remove(0), 'a');
    assert_eq!(s, "b");
    assert_eq!(s.remove(0), 'b');
    assert!(s.is_empty());
}

#[test]
#[should_panic(expected = "cannot remove a char from the end of a string")]
fn rstring_remove_at_the_end_panics() {
    RString::from("ab").remove(2);
}

#[test]
#[should_panic(expected = "is not a char boundary")]
fn rstring_remove_inside_a_char_panics() {
    RString::from("€").remove(1);
}

#[test]
fn rstring_retain_matches_string() {
    type Keep = fn(char) -> bool;
    let cases: [(&str, Keep); 5] = [
        ("", |_| false),
        ("héllo wörld", |_| true),
        ("héllo wörld", |_| false),
        ("héllo wörld", |c| c.is_ascii()),
        ("a€b𝄞c", |c| !c.is_ascii()),
    ];
    for (text, keep) in cases {
        let mut s = RString::from(text);
        let mut std_s = String::from(text);
        s.retain(keep);
        std_s.retain(keep);
        assert_eq!(s, std_s, "retain on {text:?}");
    }
}

#[test]
fn rstring_retain_stays_utf8_when_the_predicate_panics() {
    let mut s = RString::from("aé€b𝄞c");
    let r = catch_unwind(AssertUnwindSafe(|| {
        s.retain(|c| {
            assert!(c != 'b', "predicate panicked");
            c.is_ascii()
        })
    }));
    assert!(r.is_err());
    // 'a' kept, 'é' and '€' removed, the rest (from the panic on) not examined.
    assert!(std::str::from_utf8(s.as_bytes()).is_ok());
    assert_eq!(s, "ab𝄞c");
}

// --- RString: building

#[test]
fn rstring_extends_and_collects_chars_and_strings() {
    let mut s = RString::from("a");
    s.extend(['b', 'é']);
    s.extend(['c'].iter());
    s.extend(["d", "€"]);
    s.extend([String::from("e")]);
    s.extend([RString::from("f")]);
    assert_eq!(s, "abécd€ef");

    assert_eq!("héllo".chars().rev().collect::<RString>(), "olléh");
    assert_eq!(['x', 'y'].iter().collect::<RString>(), "xy");
    assert_eq!(["ab", "", "c"].into_iter().collect::<RString>(), "abc");
    assert_eq!(
        [String::from("1"), String::from("2")]
            .into_iter()
            .collect::<RString>(),
        "12"
    );
    assert_eq!(std::iter::empty::<char>().collect::<RString>(), "");
}

#[test]
fn rstring_is_a_fmt_write_target() {
    let mut s = RString::new();
    let (name, n, ch) = ("id", 7, 'é');
    write!(s, "{name}-{n:03}").unwrap();
    writeln!(s, " {ch}").unwrap();
    assert_eq!(s, "id-007 é\n");
}

#[test]
fn rstring_adds_strs() {
    let s = RString::from("a") + "b" + "";
    assert_eq!(s, "ab");
    let mut s = s;
    s += "cé";
    assert_eq!(s, "abcé");
}

#[test]
fn rstring_conversions() {
    let owned = String::from("héllo");
    assert_eq!(RString::from(&owned), "héllo");
    assert_eq!(RString::from(owned.clone()).into_string(), owned);
    assert_eq!(String::from(RString::from("x")), "x");
    assert_eq!(RString::from('€'), "€");
    assert_eq!("parsed".parse::<RString>(), Ok(RString::from("parsed")));
    assert_eq!(RString::default(), "");
    assert_eq!(RString::from("ab").into_bytes(), [b'a', b'b']);
    let mut s = RString::from("abc");
    s.make_ascii_uppercase();
    s.as_mut_str().make_ascii_lowercase();
    assert_eq!(s, "abc");
    let with_cap = RString::with_capacity(16);
    assert!(with_cap.capacity() >= 16 && with_cap.is_empty());
}

#[test]
fn rstring_compares_with_str_and_string_both_ways() {
    let s = RString::from("abc");
    let std_s = String::from("abc");
    assert!(s == *"abc");
    assert!(s == "abc");
    assert!(s == std_s);
    assert!(*"abc" == s);
    assert!("abc" == s);
    assert!(std_s == s);
    let shorter = String::from("ab");
    assert!(s != "abd");
    assert!("abd" != s);
    assert!(shorter != s);
    assert!(s != shorter);
    assert_eq!(s.clone(), s);
    let as_str: &str = s.as_ref();
    let as_bytes: &[u8] = s.as_ref();
    assert_eq!((as_str, as_bytes), ("abc", &b"abc"[..]));
}

// --- RString: ordering and hashing

#[test]
fn rstring_orders_like_string() {
    let words = ["", "b", "a", "ab", "é", "Z", "aa", "€", "a"];
    for a in words {
        for b in words {
            let (ra, rb) = (RString::from(a), RString::from(b));
            assert_eq!(ra.cmp(&rb), a.cmp(b), "{a:?} vs {b:?}");
            assert_eq!(ra.partial_cmp(&rb), Some(a.cmp(b)), "{a:?} vs {b:?}");
        }
    }
    let mut rs: Vec<RString> = words.iter().map(|&w| w.into()).collect();
    let mut ss: Vec<String> = words.iter().map(|&w| w.into()).collect();
    rs.sort();
    ss.sort();
    assert_eq!(rs, ss);
}

#[test]
fn rstring_hashes_like_str_so_maps_can_be_searched_with_str() {
    let state = RandomState::new();
    for text in ["", "key", "héllo"] {
        let r = RString::from(text);
        assert_eq!(hash_of(&state, &r), hash_of(&state, text));
        assert_eq!(hash_of(&state, &r), hash_of(&state, &String::from(text)));
    }
    let mut map: HashMap<RString, i32> = HashMap::new();
    map.insert("one".into(), 1);
    map.insert("two".into(), 2);
    assert_eq!(map.get("one"), Some(&1));
    assert_eq!(map.get("three"), None);
    let tree: BTreeMap<RString, i32> = map.into_iter().collect();
    assert_eq!(tree.get("two"), Some(&2));
    assert_eq!(tree.keys().next().map(RString::as_str), Some("one"));
}

// --- serde

#[cfg(feature = "serde")]
mod serde_support {
    use super::*;

    #[test]
    fn rstring_serializes_as_a_string() {
        let s = RString::from("héllo \"quoted\" €");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, serde_json::to_string("héllo \"quoted\" €").unwrap());
        let back: RString = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let escaped: RString = serde_json::from_str(r#""\u00e9\ud834\udd1e""#).unwrap();
        assert_eq!(escaped, "é𝄞");
    }

    #[test]
    fn rvec_serializes_as_a_sequence() {
        let v: RVec<u32> = [1, 2, 3].into();
        assert_eq!(serde_json::to_string(&v).unwrap(), "[1,2,3]");
        let back: RVec<u32> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(back, v);
        let empty: RVec<u32> = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());

        let nested: RVec<RVec<RString>> = [["a".into()].into(), RVec::new()].into();
        let json = serde_json::to_string(&nested).unwrap();
        assert_eq!(json, r#"[["a"],[]]"#);
        assert_eq!(
            serde_json::from_str::<RVec<RVec<RString>>>(&json).unwrap(),
            nested
        );
    }

    #[test]
    fn mismatched_input_is_rejected() {
        assert!(serde_json::from_str::<RString>("12").is_err());
        assert!(serde_json::from_str::<RVec<u8>>(r#""abc""#).is_err());
        assert!(serde_json::from_str::<RVec<u8>>("[1,300]").is_err());
    }

    /// Deserialised from a number; counts its drops in a thread-local counter.
    struct Tracked(#[allow(dead_code)] u32);

    thread_local! {
        static TRACKED_DROPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            TRACKED_DROPS.with(|n| n.set(n.get() + 1));
        }
    }

    impl<'de> serde::Deserialize<'de> for Tracked {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            u32::deserialize(d).map(Tracked)
        }
    }

    #[test]
    fn a_failed_sequence_drops_the_elements_read_so_far_once() {
        let r = serde_json::from_str::<RVec<Tracked>>(r#"[1, 2, "three"]"#);
        assert!(r.is_err());
        assert_eq!(TRACKED_DROPS.with(|n| n.get()), 2);
        let ok = serde_json::from_str::<RVec<Tracked>>("[1]").unwrap();
        drop(ok);
        assert_eq!(TRACKED_DROPS.with(|n| n.get()), 3);
    }
}
