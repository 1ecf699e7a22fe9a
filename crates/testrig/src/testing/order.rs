//! Ordering: `--shuffle testcases|suites|tests|all` with a replayable seed.
//!
//! The seed is printed on every shuffled run so a failing order can be replayed with
//! `--shuffle-seed N`. The generator is SplitMix64: a dozen lines, stable across releases,
//! which is what a replayable seed needs (a crate's generator may change its stream).

use crate::testing::selection::Selection;

/// What `--shuffle` reorders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShuffleScope {
    /// The order of tests in the plan.
    pub tests: bool,
    /// The order of suites in each test.
    pub suites: bool,
    /// The order of testcases in each suite.
    pub testcases: bool,
}

impl ShuffleScope {
    /// True when anything is shuffled.
    pub fn any(&self) -> bool {
        self.tests || self.suites || self.testcases
    }
}

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct SeededRandom(u64);

impl SeededRandom {
    /// A generator that yields the same stream for the same seed.
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A seed for runs that did not give one: different on every run.
pub fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    SeededRandom::new(nanos ^ u64::from(std::process::id())).next_u64() % 1_000_000_000
}

/// Reorders the selection in place.
pub fn shuffle(selection: &mut Selection, scope: ShuffleScope, seed: u64) {
    let mut random = SeededRandom::new(seed);
    if scope.tests {
        random.shuffle(&mut selection.tests);
    }
    for test in &mut selection.tests {
        if scope.suites {
            random.shuffle(&mut test.suites);
        }
        if scope.testcases {
            for suite in &mut test.suites {
                random.shuffle(&mut suite.cases);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let mut first: Vec<u32> = (0..20).collect();
        let mut second = first.clone();
        SeededRandom::new(42).shuffle(&mut first);
        SeededRandom::new(42).shuffle(&mut second);
        assert_eq!(first, second);
        assert_ne!(first, (0..20).collect::<Vec<_>>());
        let mut third: Vec<u32> = (0..20).collect();
        SeededRandom::new(43).shuffle(&mut third);
        assert_ne!(first, third);
    }
}
