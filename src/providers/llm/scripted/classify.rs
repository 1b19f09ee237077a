//! What a caller's sentence asks for, and whether it says yes or no, judged by meaning: the
//! sentence and each of its clauses are compared (sentence vectors, [`SentenceEncoder`]) with
//! the example sentences in `examples.txt`, and the label whose closest examples are nearest
//! wins when it is near enough and clearly ahead of the next. So "anything open Friday?"
//! asks for a booking although it says "open", and "thanks so much" asks no price although
//! it says "much"; a phrasing no example has is still understood when it means the same.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::cues::{answer_said, requests_named};
use super::understand::{Intent, words};
use crate::sentence_embedding::{EncoderError, SentenceEncoder, similarity};
use callbridge_core::calendar_words::WEEKDAYS;

/// The examples, `label: sentence` per line.
const EXAMPLES: &str = include_str!("examples.txt");

/// A label's score is the mean similarity of its closest examples, this many.
const NEAREST: usize = 2;
/// A request the sentence names outright ([`requests_named`]) scores this much more.
const NAMED: f32 = 0.1;
/// A request is recognised only this close to its examples (cosine similarity) ...
const MIN_INTENT: f32 = 0.47;
/// ... and a yes or no this close.
const MIN_ANSWER: f32 = 0.45;
/// The winner must lead the runner-up by this much, or the sentence is not understood.
const MARGIN: f32 = 0.02;
/// Sentences remembered (the dialogue re-reads the whole history at each step).
const MEMO: usize = 4096;

/// The labels of the two questions asked of a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Label {
    Request(Option<Intent>),
    Answer(Option<bool>),
}

fn label(name: &str) -> Option<Label> {
    Some(match name {
        "book" => Label::Request(Some(Intent::Book)),
        "move" => Label::Request(Some(Intent::Reschedule)),
        "cancel" => Label::Request(Some(Intent::Cancel)),
        "hours" => Label::Request(Some(Intent::Hours)),
        "price" => Label::Request(Some(Intent::Price)),
        "person" => Label::Request(Some(Intent::Human)),
        "status" => Label::Request(Some(Intent::Status)),
        "goodbye" => Label::Request(Some(Intent::Goodbye)),
        "other" => Label::Request(None),
        "yes" => Label::Answer(Some(true)),
        "no" => Label::Answer(Some(false)),
        "neither" => Label::Answer(None),
        _ => return None,
    })
}

/// Why the examples cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("examples.txt line {line}: {problem}")]
pub struct ExampleError {
    line: usize,
    problem: &'static str,
}

/// A sentence's request and answer, with how sure each is (for the tests' reports).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meaning {
    /// The request, if one is clear.
    pub intent: Option<Intent>,
    /// Yes or no, if one is clear.
    pub answer: Option<bool>,
    /// The winning request score and its lead over the next.
    pub intent_score: (f32, f32),
    /// The winning answer score and its lead.
    pub answer_score: (f32, f32),
}

/// The encoder with the examples' vectors.
#[derive(Debug)]
pub struct Classifier {
    encoder: Arc<SentenceEncoder>,
    examples: Vec<(Label, Vec<f32>)>,
    memo: Mutex<HashMap<String, Meaning>>,
}

impl Classifier {
    /// Encodes the examples (a second or so: done once per process).
    pub fn new(encoder: Arc<SentenceEncoder>) -> Result<Self, ExampleError> {
        let mut examples = Vec::new();
        for (i, line) in EXAMPLES.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let problem = |problem| ExampleError {
                line: i + 1,
                problem,
            };
            let (name, text) = line.split_once(':').ok_or(problem("no `label:`"))?;
            let label = label(name.trim()).ok_or(problem("unknown label"))?;
            examples.push((label, encoder.embed(&plain(text.trim()))));
        }
        Ok(Self {
            encoder,
            examples,
            memo: Mutex::new(HashMap::new()),
        })
    }

    /// The request and the answer `text` makes.
    pub fn meaning(&self, text: &str) -> Meaning {
        if let Some(m) = self.memo.lock().expect("memo").get(text) {
            return *m;
        }
        let m = self.judge(text);
        let mut memo = self.memo.lock().expect("memo");
        if memo.len() >= MEMO {
            memo.clear();
        }
        memo.insert(text.to_string(), m);
        m
    }

    fn judge(&self, text: &str) -> Meaning {
        let clauses = clauses(text);
        let whole = self.encoder.embed(&plain(text));
        let parts: Vec<Vec<f32>> = if clauses.len() > 1 {
            clauses
                .iter()
                .map(|c| self.encoder.embed(&plain(c)))
                .collect()
        } else {
            vec![whole.clone()]
        };
        // The request: the most confident one the sentence or a clause of two words or more
        // makes ("Hi, this is Sam, I need to cancel"; "I'd like to book, um, an oil change").
        let mut intent: (Option<Intent>, (f32, f32)) = (None, (0.0, 0.0));
        let long_clauses = parts
            .iter()
            .zip(&clauses)
            .filter(|(_, c)| clauses.len() > 1 && c.split_whitespace().count() >= 2)
            .map(|(v, c)| (v, c.as_str()));
        for (v, said) in std::iter::once((&whole, text)).chain(long_clauses) {
            if let Some((Label::Request(Some(i)), score)) =
                self.best(v, Some(&requests_named(said)))
                && score.0 >= MIN_INTENT
                && score.1 >= MARGIN
                && score.0 > intent.1.0
            {
                intent = (Some(i), score);
            }
        }
        // A call's last words are a goodbye whatever came before them ("Please do. Thanks,
        // bye.").
        if clauses
            .last()
            .is_some_and(|c| requests_named(c) == [Intent::Goodbye])
        {
            intent = (Some(Intent::Goodbye), (1.0, 1.0));
        }
        Meaning {
            intent: intent.0,
            intent_score: intent.1,
            ..self.answer(&clauses, &parts, &whole)
        }
    }

    /// The first clause whose words say yes or no ("No, Thursday, not Tuesday"), else the
    /// first clause, then the sentence, whose closest examples do.
    fn answer(&self, clauses: &[String], parts: &[Vec<f32>], whole: &[f32]) -> Meaning {
        let mut m = Meaning {
            intent: None,
            answer: None,
            intent_score: (0.0, 0.0),
            answer_score: (0.0, 0.0),
        };
        let misheard = || callbridge_core::misheard_answers::yes_or_no(&clauses.join(" "));
        if let Some(said) = clauses
            .iter()
            .find_map(|c| answer_said(c))
            .or_else(misheard)
        {
            m.answer = Some(said);
            m.answer_score = (1.0, 1.0);
            return m;
        }
        for v in parts.iter().map(Vec::as_slice).chain([whole]) {
            if let Some((Label::Answer(a), score)) = self.best(v, None)
                && score.0 >= MIN_ANSWER
                && score.1 >= MARGIN
            {
                if a.is_some() {
                    m.answer = a;
                    m.answer_score = score;
                    return m;
                }
                if m.answer_score.0 < score.0 {
                    m.answer_score = score;
                }
            }
        }
        m
    }

    /// The nearest label and its (score, lead): a request when `named` is given (the
    /// requests the words name, which score [`NAMED`] more), else an answer.
    fn best(&self, v: &[f32], named: Option<&[Intent]>) -> Option<(Label, (f32, f32))> {
        let mut by_label: HashMap<Label, Vec<f32>> = HashMap::new();
        for (label, e) in &self.examples {
            if matches!(label, Label::Request(_)) == named.is_some() {
                by_label.entry(*label).or_default().push(similarity(v, e));
            }
        }
        let mut scores: Vec<(Label, f32)> = by_label
            .into_iter()
            .map(|(label, mut s)| {
                s.sort_by(|a, b| b.total_cmp(a));
                let n = s.len().min(NEAREST);
                let bonus = match label {
                    Label::Request(Some(i)) if named.is_some_and(|n| n.contains(&i)) => NAMED,
                    _ => 0.0,
                };
                (label, s[..n].iter().sum::<f32>() / n as f32 + bonus)
            })
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (label, top) = *scores.first()?;
        let next = scores.get(1).map_or(0.0, |s| s.1);
        Some((label, (top, top - next)))
    }
}

/// Services a caller may name, as one word: what is asked matters here, not for what.
const SERVICES: &[&str] = &[
    "oil change",
    "oil changes",
    "brake pad replacement",
    "brake pads",
    "brake pad",
    "brake inspection",
    "brake inspections",
    "brake work",
    "brakes",
    "breaks",
    "state inspection",
    "state inspections",
    "inspection",
    "inspections",
    "wheel alignment",
    "wheel alignments",
    "alignment",
    "alignments",
    "tire rotation",
    "tire rotations",
    "tires rotated",
    "rotating tires",
    "tires",
    "maintenance",
];

/// `text` with each service named as "service" and each day as "monday": the examples name
/// some services and days, and a sentence should not lean towards a request because it
/// names the same ones ("schedule a brake inspection" is not a price question).
fn plain(text: &str) -> String {
    let w = words(text);
    let mut out: Vec<&str> = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        let service = SERVICES.iter().find_map(|s| {
            let n = s.split(' ').count();
            (w.len() - i >= n && w[i..i + n].join(" ") == *s).then_some(n)
        });
        if let Some(n) = service {
            out.push("service");
            i += n;
            continue;
        }
        let day = w[i].trim_end_matches('s');
        out.push(
            if WEEKDAYS.contains(&day) || day == "today" || day == "tomorrow" {
                "monday"
            } else {
                &w[i]
            },
        );
        i += 1;
    }
    out.join(" ")
}

/// A classifier being loaded, or loaded, once per process for its encoder folder: the
/// weights (91 MB) and the examples' vectors (a second or so) are shared by every agent.
#[derive(Debug, Clone)]
pub struct SharedClassifier {
    dir: PathBuf,
    cell: Arc<(Mutex<Load>, Condvar)>,
}

/// `None` while loading; then the classifier, or `None` when it could not be loaded.
type Load = Option<Option<Arc<Classifier>>>;

impl SharedClassifier {
    /// Starts loading the encoder in `dir` on a thread of its own, unless this process
    /// already has (or is).
    pub fn load(dir: &Path) -> Self {
        static LOADS: Mutex<Vec<SharedClassifier>> = Mutex::new(Vec::new());
        let mut loads = LOADS.lock().expect("loads");
        if let Some(l) = loads.iter().find(|l| l.dir == dir) {
            return l.clone();
        }
        let shared = Self {
            dir: dir.to_path_buf(),
            cell: Arc::new((Mutex::new(None), Condvar::new())),
        };
        let (dir, cell) = (shared.dir.clone(), shared.cell.clone());
        std::thread::spawn(move || {
            let loaded = SentenceEncoder::load(&dir)
                .map_err(|e: EncoderError| e.to_string())
                .and_then(|e| Classifier::new(Arc::new(e)).map_err(|e| e.to_string()));
            let loaded = match loaded {
                Ok(c) => Some(Arc::new(c)),
                Err(error) => {
                    tracing::warn!(%error, "the built-in agent understands by keywords alone: its sentence encoder is not loaded");
                    None
                }
            };
            *cell.0.lock().expect("classifier") = Some(loaded);
            cell.1.notify_all();
        });
        loads.push(shared.clone());
        shared
    }

    /// The classifier, waiting up to `wait` for the load; `None` when it failed or is not
    /// done by then (the agent then goes by keywords for this step).
    pub fn get(&self, wait: Duration) -> Option<Arc<Classifier>> {
        let (lock, ready) = &*self.cell;
        let guard = lock.lock().expect("classifier");
        let (guard, _) = ready
            .wait_timeout_while(guard, wait, |loaded| loaded.is_none())
            .expect("classifier");
        guard.clone().flatten()
    }
}

/// The clauses of a sentence: split at sentence marks, commas and semicolons.
fn clauses(text: &str) -> Vec<String> {
    text.split(['.', '?', '!', ',', ';'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The classifier on the fetched encoder, made once for all of a test binary's tests.
#[cfg(test)]
pub(crate) fn for_tests() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(|| Classifier::new(crate::sentence_embedding::for_tests()).expect("examples"))
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
