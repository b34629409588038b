//! Batch linkage: blocking, training, scoring and clustering of a whole file.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::blocking::{keys, Keys, PASS_COUNT};
use crate::compare::{compare, Field, Pattern, FLAG_DIFFERENT_VALID_IDS, FLAG_SAME_VALID_ID};
use crate::matcher::{Decision, Matcher};
use crate::model::{Model, PatternCounts};
use crate::record::Features;

/// Options of a batch run.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Blocks larger than this are skipped (and counted).
    pub max_block: usize,
    /// Worker threads.
    pub threads: usize,
    /// Compare only records of different sources (linking files, not deduplicating).
    pub cross_source_only: bool,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            max_block: 1000,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cross_source_only: false,
        }
    }
}

/// A scored pair kept by [`link`] (decision `link` or `review`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkedPair {
    /// Position of the first record.
    pub left: u32,
    /// Position of the second record.
    pub right: u32,
    /// Match probability.
    pub probability: f64,
    /// Decision.
    pub decision: Decision,
}

/// Blocks of every pass, ready to enumerate.
pub struct Blocks {
    keys: Vec<Keys>,
    /// Per pass: (key, record) sorted by key.
    sorted: Vec<Vec<(u64, u32)>>,
    /// (pass, start, end) of each block with 2..=max_block members.
    groups: Vec<(u8, u32, u32)>,
    /// Per pass: keys of blocks skipped for size.
    oversized: Vec<HashSet<u64>>,
    /// Candidate pairs the groups hold (before cross-pass deduplication).
    pub pair_estimate: u64,
    /// Blocks skipped for size.
    pub skipped_blocks: usize,
}

impl Blocks {
    /// Computes the keys and blocks of `records`.
    pub fn build(records: &[Features], max_block: usize) -> Blocks {
        let keys: Vec<Keys> = records.iter().map(keys).collect();
        let mut sorted = Vec::with_capacity(PASS_COUNT);
        let mut groups = Vec::new();
        let mut oversized = vec![HashSet::new(); PASS_COUNT];
        let mut pair_estimate = 0u64;
        let mut skipped_blocks = 0;
        for pass in 0..PASS_COUNT {
            let mut v: Vec<(u64, u32)> = keys
                .iter()
                .enumerate()
                .filter(|(_, k)| k[pass] != 0)
                .map(|(i, k)| (k[pass], i as u32))
                .collect();
            v.sort_unstable();
            let mut start = 0;
            while start < v.len() {
                let mut end = start + 1;
                while end < v.len() && v[end].0 == v[start].0 {
                    end += 1;
                }
                let n = end - start;
                if n > max_block {
                    oversized[pass].insert(v[start].0);
                    skipped_blocks += 1;
                } else if n >= 2 {
                    groups.push((pass as u8, start as u32, end as u32));
                    pair_estimate += (n * (n - 1) / 2) as u64;
                }
                start = end;
            }
            sorted.push(v);
        }
        Blocks {
            keys,
            sorted,
            groups,
            oversized,
            pair_estimate,
            skipped_blocks,
        }
    }

    /// Number of blocks to enumerate.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// True when some pass puts records `i` and `j` in one compared block (the pair is
    /// a candidate), whichever pass that is.
    pub fn shares_block(&self, i: u32, j: u32) -> bool {
        let (a, b) = (&self.keys[i as usize], &self.keys[j as usize]);
        (0..PASS_COUNT).any(|q| a[q] != 0 && a[q] == b[q] && !self.oversized[q].contains(&a[q]))
    }

    /// True when an earlier pass already produced the pair.
    fn seen_earlier(&self, pass: usize, i: u32, j: u32) -> bool {
        let (a, b) = (&self.keys[i as usize], &self.keys[j as usize]);
        (0..pass).any(|q| a[q] != 0 && a[q] == b[q] && !self.oversized[q].contains(&a[q]))
    }

    /// Runs `visit(i, j)` on every distinct candidate pair of the selected groups,
    /// spread over `threads`; `progress(n)` is told of every n groups done.
    fn for_each_pair<S: Send>(
        &self,
        records: &[Features],
        opts: &LinkOptions,
        select: impl Fn(usize) -> bool + Sync,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, u32, u32) + Sync,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<S> {
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::new());
        const CHUNK: usize = 256;
        std::thread::scope(|s| {
            for _ in 0..opts.threads.max(1) {
                s.spawn(|| {
                    let mut state = init();
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        if start >= self.groups.len() {
                            break;
                        }
                        let end = (start + CHUNK).min(self.groups.len());
                        for g in start..end {
                            if !select(g) {
                                continue;
                            }
                            let (pass, a, b) = self.groups[g];
                            let members = &self.sorted[pass as usize][a as usize..b as usize];
                            for x in 0..members.len() {
                                for y in x + 1..members.len() {
                                    let (i, j) = (members[x].1, members[y].1);
                                    if opts.cross_source_only
                                        && records[i as usize].source == records[j as usize].source
                                    {
                                        continue;
                                    }
                                    if self.seen_earlier(pass as usize, i, j) {
                                        continue;
                                    }
                                    visit(&mut state, pass as usize, i.min(j), i.max(j));
                                }
                            }
                        }
                        progress((end - start) as u64);
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push(state);
                    }
                });
            }
        });
        results.into_inner().unwrap_or_default()
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Estimates a model from the records themselves (unsupervised): u from `random_pairs`
/// random pairs, then EM over (a sample of at most `max_pairs`) blocked candidate pairs.
pub fn train(
    records: &[Features],
    blocks: &Blocks,
    opts: &LinkOptions,
    random_pairs: usize,
    max_pairs: u64,
) -> Model {
    let mut model = Model::default();
    let n = records.len() as u64;
    if n < 2 {
        return model;
    }
    let mut random = PatternCounts::new();
    let mut seed = 0x5eed_u64;
    for _ in 0..random_pairs {
        let i = (splitmix(&mut seed) % n) as usize;
        let j = (splitmix(&mut seed) % n) as usize;
        if i == j || (opts.cross_source_only && records[i].source == records[j].source) {
            continue;
        }
        *random
            .entry(compare(&records[i], &records[j]).levels_only())
            .or_default() += 1;
    }
    model.estimate_u(&random);
    // Sample whole blocks so that about max_pairs pairs are compared.
    let stride = blocks.pair_estimate.div_ceil(max_pairs.max(1)).max(1) as usize;
    let parts = blocks.for_each_pair(
        records,
        opts,
        |g| g % stride == 0,
        || vec![PatternCounts::new(); PASS_COUNT],
        |counts, pass, i, j| {
            *counts[pass]
                .entry(compare(&records[i as usize], &records[j as usize]))
                .or_default() += 1
        },
        &|_| {},
    );
    let mut per_pass = vec![PatternCounts::new(); PASS_COUNT];
    for part in parts {
        for (pass, counts) in part.into_iter().enumerate() {
            for (p, c) in counts {
                *per_pass[pass].entry(p).or_default() += c;
            }
        }
    }
    let mut all = PatternCounts::new();
    for counts in &per_pass {
        for (p, c) in counts {
            *all.entry(*p).or_default() += c;
        }
    }
    // Pairs with equal valid ID numbers are matches and pairs with two different valid
    // ID numbers are not, whatever else they share: where the data has enough of both,
    // they label the training data (m from the first) and EM is left only the ID
    // comparison and λ. This keeps EM from taking households (same phone,
    // address and surname) for the match class.
    let same: PatternCounts = all
        .iter()
        .filter(|(p, _)| p.has(FLAG_SAME_VALID_ID))
        .map(|(p, c)| (*p, *c))
        .collect();
    let different: PatternCounts = all
        .iter()
        .filter(|(p, _)| p.has(FLAG_DIFFERENT_VALID_IDS))
        .map(|(p, c)| (*p, *c))
        .collect();
    let all: PatternCounts = all
        .into_iter()
        .fold(PatternCounts::new(), |mut acc, (p, c)| {
            *acc.entry(p.levels_only()).or_default() += c;
            acc
        });
    const MIN_LABELLED: u64 = 200;
    if same.values().sum::<u64>() >= MIN_LABELLED && different.values().sum::<u64>() >= MIN_LABELLED
    {
        // u stays the random-pair estimate (how rare a coincidence is in the
        // population); pairs with different valid IDs only vouch that there is enough
        // ID coverage to trust the labels.
        model.estimate_from_labels(&same, true, &[Field::CitizenId]);
        model.estimate_em_fields(&all, 200, false, &[Field::CitizenId]);
    } else {
        // No labels: EM over all candidate pairs, u starting from the random-pair
        // estimate and free: among blocked pairs, agreement on a blocked field is no
        // evidence of a match, and letting u follow the candidate pairs keeps EM from
        // taking it as such. (Per-pass EM with u fixed, as Splink trains, was tried:
        // correlated fields such as postcode and suburb inside a postcode block made it
        // converge to the wrong class.)
        model.estimate_em(&all, 200, false);
    }
    model
}

/// Scores every candidate pair and keeps those decided `link` or `review`, except review
/// pairs whose two records the `link` pairs already join into one person: that question
/// is settled, and the server does not queue it either (it reviews a registration only
/// against candidates outside the person it was linked to).
pub fn link(
    records: &[Features],
    blocks: &Blocks,
    matcher: &Matcher,
    opts: &LinkOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<LinkedPair> {
    let parts = blocks.for_each_pair(
        records,
        opts,
        |_| true,
        Vec::new,
        |out: &mut Vec<LinkedPair>, _, i, j| {
            let p: Pattern = compare(&records[i as usize], &records[j as usize]);
            let (probability, decision, _) = matcher.decide(p);
            if decision != Decision::NoLink {
                out.push(LinkedPair {
                    left: i,
                    right: j,
                    probability,
                    decision,
                });
            }
        },
        progress,
    );
    let mut all: Vec<LinkedPair> = parts.into_iter().flatten().collect();
    all.sort_by_key(|p| (p.left, p.right));
    let person = clusters(records.len(), &all);
    all.retain(|p| {
        p.decision == Decision::Link || person[p.left as usize] != person[p.right as usize]
    });
    all
}

/// Groups records into persons by the transitive closure of `link` pairs; returns the
/// person number of every record (numbered from 0 in order of first record).
pub fn clusters(n: usize, pairs: &[LinkedPair]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for p in pairs.iter().filter(|p| p.decision == Decision::Link) {
        let (a, b) = (find(&mut parent, p.left), find(&mut parent, p.right));
        if a != b {
            parent[a.max(b) as usize] = a.min(b);
        }
    }
    let mut number = vec![u32::MAX; n];
    let mut next = 0;
    (0..n as u32)
        .map(|i| {
            let r = find(&mut parent, i) as usize;
            if number[r] == u32::MAX {
                number[r] = next;
                next += 1;
            }
            number[r]
        })
        .collect()
}
