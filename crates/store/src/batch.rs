//! Micro-batching: calls that arrive while a batch is being served queue up and are served
//! together by the next one. Under light load a batch is a single call and nothing waits;
//! under heavy load one database round trip or one commit serves many calls, so the
//! database's per-statement and per-commit costs are shared instead of multiplied.
//!
//! No timer holds a call back to fill a batch: the batch size follows the load by itself.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

/// A call waiting in the queue with where its answer goes.
type Queued<I, O> = (I, oneshot::Sender<O>);

/// A queue served by a few tasks, each `max` calls at a time.
#[derive(Debug)]
pub(crate) struct Batcher<I, O> {
    sender: mpsc::Sender<Queued<I, O>>,
}

/// How many calls may wait before callers are held back (back-pressure, not loss).
const QUEUE: usize = 4096;

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `workers` serving tasks on the current Tokio runtime. Each takes up to `max`
    /// waiting calls at a time, so that while one batch waits on the database the next is
    /// already being served. `serve` answers a batch with one output per input, in order.
    pub(crate) fn spawn<F, Fut>(max: usize, workers: usize, serve: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send,
    {
        let (sender, queue) = mpsc::channel::<Queued<I, O>>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers.max(1) {
            let (queue, serve) = (queue.clone(), serve.clone());
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(max);
                loop {
                    // One worker at a time takes from the queue; the others are serving.
                    if queue.lock().await.recv_many(&mut batch, max).await == 0 {
                        break;
                    }
                    let (inputs, replies): (Vec<I>, Vec<_>) = batch.drain(..).unzip();
                    let outputs = serve(inputs).await;
                    // A caller that gave up (its request was dropped) no longer listens;
                    // what it asked for is done all the same.
                    for (reply, out) in replies.into_iter().zip(outputs) {
                        let _ = reply.send(out);
                    }
                }
            });
        }
        Batcher { sender }
    }

    /// Queues `input` and waits for its answer; `None` if the serving task has stopped
    /// (its runtime is shutting down).
    pub(crate) async fn call(&self, input: I) -> Option<O> {
        let (reply, answer) = oneshot::channel();
        self.sender.send((input, reply)).await.ok()?;
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn answers_each_call_in_order_and_batches_under_load() {
        let batches = Arc::new(AtomicUsize::new(0));
        let seen = batches.clone();
        let doubler = Arc::new(Batcher::spawn(16, 2, move |xs: Vec<u32>| {
            let seen = seen.clone();
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                xs.into_iter().map(|x| x * 2).collect()
            }
        }));
        let calls: Vec<_> = (0..100u32)
            .map(|i| {
                let d = doubler.clone();
                tokio::spawn(async move { (i, d.call(i).await) })
            })
            .collect();
        for c in calls {
            let (i, out) = c.await.expect("task");
            assert_eq!(out, Some(i * 2));
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(
            (7..100).contains(&n),
            "100 concurrent calls in batches of at most 16 took {n} batches"
        );
    }
}
