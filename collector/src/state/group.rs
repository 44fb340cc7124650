//! Group commit: the batches that wait for the writers' lock at the same moment are stored
//! together, in one transaction with one wait for the disk, and each is answered once that
//! transaction committed (see `ingest`).
//!
//! [`Group`] is the queue, without knowing what a job is: each caller queues its job and
//! either waits for its outcome or, when no other caller leads, leads. The leader takes the
//! writers' lock, then every job queued at that moment (its own first, at most [`Group::new`]'s
//! `max`), runs them through `lead` at once, hands each waiting caller its outcome, and passes
//! the lead to the first job queued since (which was waiting, so nobody spins). Jobs are taken
//! in the order they were queued. A leader that panics makes the callers of its group panic
//! too (no outcome to give them), and the lead still passes on.

use crate::store::{Applied, StoreError, StoredResult};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// One batch waiting to be stored: what ingest hands the queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub agent: String,
    pub batch_id: String,
    pub results: Vec<StoredResult>,
    /// When the collector received it (Unix ms).
    pub received: i64,
}

/// What storing one queued batch gave: what was applied and, per device whose stored outages
/// its transaction changed, the replacement's start.
pub type Stored = Result<(Applied, BTreeMap<String, i64>), StoreError>;

/// The batches waiting for the writers' lock (see the module doc).
pub type BatchQueue = Group<Queued, Stored>;

/// A group-commit queue of jobs `J` with outcomes `O` (see the module doc).
pub struct Group<J, O> {
    queue: Mutex<Queue<J, O>>,
    max: usize,
}

struct Queue<J, O> {
    waiting: VecDeque<(J, Arc<Slot<J, O>>)>,
    /// Whether a caller leads (runs or is about to run a group).
    leading: bool,
}

/// Where one caller waits for its job's outcome.
struct Slot<J, O> {
    state: Mutex<SlotState<J, O>>,
    ready: Condvar,
}

enum SlotState<J, O> {
    Waiting,
    /// The caller leads the next group.
    Lead,
    Done(J, O),
    /// The leader of its group panicked.
    Failed,
}

impl<J, O> Slot<J, O> {
    fn new() -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting),
            ready: Condvar::new(),
        })
    }

    fn set(&self, state: SlotState<J, O>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        self.ready.notify_one();
    }

    /// Waits until the slot is no longer `Waiting` and takes what it holds.
    fn wait(&self) -> SlotState<J, O> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while matches!(*state, SlotState::Waiting) {
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        std::mem::replace(&mut *state, SlotState::Waiting)
    }
}

impl<J, O> Group<J, O> {
    /// A queue whose groups hold at most `max` jobs (at least one).
    pub fn new(max: usize) -> Group<J, O> {
        Group {
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                leading: false,
            }),
            max: max.max(1),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue<J, O>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` and returns it with its outcome: run by another caller's `lead` with the
    /// jobs queued beside it, or by this caller's, which then takes the writers' lock (`lock`)
    /// and every job waiting. `lead` returns one outcome per job, in order.
    pub fn submit<G>(&self, job: J, lock: impl Fn() -> G, lead: impl Fn(&[J]) -> Vec<O>) -> (J, O) {
        let mine = Slot::new();
        let leads_now = {
            let mut q = self.queue();
            q.waiting.push_back((job, mine.clone()));
            !std::mem::replace(&mut q.leading, true)
        };
        if !leads_now {
            match mine.wait() {
                SlotState::Done(job, outcome) => return (job, outcome),
                SlotState::Lead => {}
                SlotState::Failed => panic!("the leader of this batch's group panicked"),
                SlotState::Waiting => unreachable!("wait returns only once the slot is set"),
            }
        }
        // This caller leads; its job is the first waiting (the lead passes only to the first).
        let _writer = lock();
        let (jobs, slots): (Vec<J>, Vec<Arc<Slot<J, O>>>) = {
            let mut q = self.queue();
            let n = q.waiting.len().min(self.max);
            q.waiting.drain(..n).unzip()
        };
        let outcomes = catch_unwind(AssertUnwindSafe(|| lead(&jobs)));
        drop(_writer);
        let outcomes = match outcomes {
            Ok(o) if o.len() == jobs.len() => o,
            Ok(o) => {
                self.fail(&slots, &mine);
                panic!("a group of {} jobs gave {} outcomes", jobs.len(), o.len())
            }
            Err(panic) => {
                self.fail(&slots, &mine);
                resume_unwind(panic)
            }
        };
        let mut own = None;
        for ((job, slot), outcome) in jobs.into_iter().zip(slots).zip(outcomes) {
            if Arc::ptr_eq(&slot, &mine) {
                own = Some((job, outcome));
            } else {
                slot.set(SlotState::Done(job, outcome));
            }
        }
        self.pass_lead();
        own.expect("the leader's own job is the first of its group")
    }

    /// After a leader's panic: its group's other callers panic too, the lead passes on.
    fn fail(&self, slots: &[Arc<Slot<J, O>>], mine: &Arc<Slot<J, O>>) {
        for slot in slots.iter().filter(|s| !Arc::ptr_eq(s, mine)) {
            slot.set(SlotState::Failed);
        }
        self.pass_lead();
    }

    /// Hands the lead to the first job queued, or leaves it free.
    fn pass_lead(&self) {
        let mut q = self.queue();
        match q.waiting.front() {
            Some((_, slot)) => slot.set(SlotState::Lead),
            None => q.leading = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_job_gets_its_own_outcome_and_waiting_jobs_share_a_group() {
        let group = Arc::new(Group::<usize, usize>::new(64));
        let writer = Arc::new(Mutex::new(()));
        let groups = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let (group, writer, groups) = (group.clone(), writer.clone(), groups.clone());
                std::thread::spawn(move || {
                    let lock = || writer.lock().unwrap();
                    let (job, outcome) = group.submit(i, lock, |jobs| {
                        groups.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        jobs.iter().map(|j| j * 10).collect()
                    });
                    assert_eq!((job, outcome), (i, i * 10));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 32 callers, each group taking 20 ms: the later ones queue behind the first group.
        let n = groups.load(Ordering::SeqCst);
        assert!((1..32).contains(&n), "{n} groups for 32 jobs");
    }

    #[test]
    fn a_group_holds_at_most_max_jobs() {
        let group = Arc::new(Group::<usize, usize>::new(2));
        let writer = Arc::new(Mutex::new(()));
        let largest = Arc::new(AtomicUsize::new(0));
        let hold = writer.lock().unwrap();
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let (group, writer, largest) = (group.clone(), writer.clone(), largest.clone());
                std::thread::spawn(move || {
                    group.submit(
                        i,
                        || writer.lock().unwrap(),
                        |jobs| {
                            largest.fetch_max(jobs.len(), Ordering::SeqCst);
                            jobs.to_vec()
                        },
                    )
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(hold);
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), (i, i));
        }
        assert_eq!(largest.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_leader_that_panics_fails_its_group_and_the_queue_goes_on() {
        let group = Arc::new(Group::<usize, usize>::new(8));
        let writer = Arc::new(Mutex::new(()));
        let hold = writer.lock().unwrap();
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let (group, writer) = (group.clone(), writer.clone());
                std::thread::spawn(move || {
                    group.submit(
                        i,
                        || writer.lock().unwrap_or_else(|e| e.into_inner()),
                        |jobs| {
                            if jobs.contains(&0) {
                                panic!("poisoned job");
                            }
                            jobs.to_vec()
                        },
                    )
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(hold);
        let outcomes: Vec<bool> = threads.into_iter().map(|t| t.join().is_ok()).collect();
        // Job 0's group panicked for all its members; the queue still serves the next job.
        assert!(outcomes.iter().any(|ok| !ok));
        let next = group.submit(
            7,
            || writer.lock().unwrap_or_else(|e| e.into_inner()),
            |j| j.to_vec(),
        );
        assert_eq!(next, (7, 7));
    }
}
