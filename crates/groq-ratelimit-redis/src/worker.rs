//! The connections to Redis. On a single Redis, calls run on the caller's thread over a pool
//! of synchronous connections: an answered call is one round trip, an update sent without
//! waiting is one write, and nothing is handed to another thread. Everything else (updates
//! that failed or found no idle connection, lease renewals, and every call to a Redis
//! Cluster) goes to a thread with its own tokio runtime, which pipelines the scripts on one
//! multiplexed connection and retries updates; the limiter's synchronous methods can thus be
//! called from any runtime (or none).

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use tokio::sync::{mpsc, watch};

use crate::scripts::Scripts;

/// Which script a job runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Reserve,
    Settle,
    Penalize,
    Observe,
    Absorb,
    Snapshot,
    Renew,
    Time,
}

/// Where Redis is.
#[derive(Clone)]
pub(crate) enum Target {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Redis",
            Self::Cluster(_) => "Redis Cluster",
        })
    }
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

pub(crate) type Answer = Result<Vec<String>, String>;

struct Job {
    op: Op,
    keys: [String; 2],
    args: Vec<String>,
    reply: Option<SyncSender<Answer>>,
    /// For a job nobody waits for: retry failures for this long.
    retry_for: Duration,
    /// Counts the job as finished when dropped.
    _done: Option<Done>,
}

/// Decrements the outstanding count when a job without a reply ends, however it ends.
struct Done(Arc<(Mutex<usize>, std::sync::Condvar)>);

impl Drop for Done {
    fn drop(&mut self) {
        let (count, finished) = &*self.0;
        let mut n = count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        finished.notify_all();
    }
}

/// The leases this process holds (their members in the lease set), per model, renewed while
/// they run.
pub(crate) type Live = Arc<Mutex<HashMap<[String; 2], HashSet<String>>>>;

/// The most idle connections [`Direct`] keeps.
const POOL: usize = 64;

/// The most updates a connection may owe answers for before the next one reads them.
const MAX_OWED: usize = 256;

/// An update written to a pooled connection whose answer has not been read yet.
struct Owed {
    op: Op,
    keys: [String; 2],
    args: Vec<String>,
    retry_for: Duration,
    /// Counts the update as outstanding until it is dropped.
    done: Done,
}

/// A synchronous connection and the updates written to it whose answers are still unread,
/// in order.
struct Pooled {
    conn: redis::Connection,
    owed: Vec<Owed>,
}

/// Calls on the caller's own thread, over a pool of synchronous connections: an answered
/// call is one round trip to Redis, and an update sent without waiting is one write, with no
/// hand-off to another thread (two thread wake-ups per call cost more than Redis itself on a
/// busy machine). An update's answer is read by the next call on its connection (or by
/// [`Worker::flush`]); one that failed is handed to the connection thread, which retries it.
struct Direct {
    client: redis::Client,
    scripts: Scripts,
    pool: Mutex<Vec<Pooled>>,
    timeout: Duration,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Direct {
    /// A new connection with every script loaded, so that updates can be written as EVALSHA
    /// without waiting for their answers.
    fn fresh(&self) -> redis::RedisResult<Pooled> {
        let mut conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        let mut load = redis::pipe();
        for source in &self.scripts.sources {
            load.cmd("SCRIPT").arg("LOAD").arg(source);
        }
        load.query::<()>(&mut conn)?;
        Ok(Pooled {
            conn,
            owed: Vec::new(),
        })
    }

    fn take(&self) -> Option<Pooled> {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn put(&self, pooled: Pooled, fallback: &dyn Fn(Owed)) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL {
            pool.push(pooled);
        } else {
            drop(pool);
            let mut pooled = pooled;
            let _ = self.read_owed(&mut pooled, fallback);
        }
    }

    /// Reads the answers owed on `pooled`, handing failed updates to `fallback`. `Err` when
    /// the connection is broken (its unread updates went to `fallback`).
    fn read_owed(&self, pooled: &mut Pooled, fallback: &dyn Fn(Owed)) -> Result<(), ()> {
        let mut owed = std::mem::take(&mut pooled.owed).into_iter();
        while let Some(update) = owed.next() {
            match pooled.conn.recv_response() {
                Ok(redis::Value::ServerError(e)) => {
                    tracing::debug!(error = ?e, op = ?update.op, "a Redis update failed; retrying");
                    fallback(update);
                }
                Ok(_) => drop(update),
                Err(e) if e.is_io_error() || e.is_timeout() || e.is_unrecoverable_error() => {
                    tracing::debug!(error = %e, "a Redis connection broke; retrying its updates");
                    fallback(update);
                    owed.for_each(fallback);
                    return Err(());
                }
                Err(e) => {
                    tracing::debug!(error = %e, op = ?update.op, "a Redis update failed; retrying");
                    fallback(update);
                }
            }
        }
        Ok(())
    }

    fn call(&self, op: Op, keys: &[String; 2], args: &[String], fallback: &dyn Fn(Owed)) -> Answer {
        // A pooled connection may have broken (Redis restarted): one more try on a new one.
        for attempt in 0..2 {
            let pooled = if attempt == 0 { self.take() } else { None };
            let (mut pooled, fresh) = match pooled {
                Some(pooled) => (pooled, false),
                None => (self.fresh().map_err(|e| e.to_string())?, true),
            };
            if self.read_owed(&mut pooled, fallback).is_err() {
                continue;
            }
            let invocation = prepare(&self.scripts, op, keys, args);
            let answer = if answers_one(op) {
                invocation
                    .invoke::<String>(&mut pooled.conn)
                    .map(|s| vec![s])
            } else {
                invocation.invoke::<Vec<String>>(&mut pooled.conn)
            };
            match answer {
                Ok(fields) => {
                    self.put(pooled, fallback);
                    return Ok(fields);
                }
                // A connection that failed (or timed out mid-answer) is not used again.
                Err(e) if fresh || !(e.is_io_error() || e.is_unrecoverable_error()) => {
                    return Err(e.to_string());
                }
                Err(_) => {}
            }
        }
        Err("the Redis connection broke twice".into())
    }

    /// Writes `update` to an idle pooled connection without waiting for its answer; gives it
    /// back when there is none or the write fails.
    fn send(&self, update: Owed, fallback: &dyn Fn(Owed)) -> Result<(), Owed> {
        let Some(mut pooled) = self.take() else {
            return Err(update);
        };
        // Answers are read before too many pile up (in this process and in Redis's buffers).
        if pooled.owed.len() >= MAX_OWED && self.read_owed(&mut pooled, fallback).is_err() {
            return Err(update);
        }
        let script = script_of(&self.scripts, update.op);
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(update.keys.len());
        cmd.arg(&update.keys[..]).arg(&update.args[..]);
        match pooled.conn.send_packed_command(&cmd.get_packed_command()) {
            Ok(()) => {
                pooled.owed.push(update);
                self.put(pooled, fallback);
                Ok(())
            }
            Err(_) => {
                // The connection is broken: what it owes goes to the thread, and so does this.
                pooled.owed.drain(..).for_each(fallback);
                Err(update)
            }
        }
    }

    /// Reads every answer owed on the idle connections.
    fn drain(&self, fallback: &dyn Fn(Owed)) {
        let owing: Vec<Pooled> = {
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            let (owing, idle): (Vec<_>, Vec<_>) = pool.drain(..).partition(|p| !p.owed.is_empty());
            *pool = idle;
            owing
        };
        for mut pooled in owing {
            if self.read_owed(&mut pooled, fallback).is_ok() {
                self.put(pooled, fallback);
            }
        }
    }
}

/// The handle the limiter keeps; dropping the last one stops the thread.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Answered calls on a single Redis (a cluster goes through the thread).
    direct: Option<Direct>,
    /// Jobs sent without a reply and not finished yet.
    pub(crate) outstanding: Arc<(Mutex<usize>, std::sync::Condvar)>,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub(crate) live: Live,
}

impl Drop for Worker {
    /// Lets the thread finish the updates already sent (settlements, at most a couple of
    /// seconds), so that a process that exits right after its last request leaves no charge
    /// to expire.
    fn drop(&mut self) {
        if let Some(direct) = &self.direct {
            direct.drain(&|owed| self.enqueue(owed));
        }
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(crate) fn start(
        target: Target,
        op_timeout: Duration,
        lease: Duration,
    ) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let live: Live = Arc::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let renewing = Arc::clone(&live);
        let direct = match &target {
            Target::Single(client) => Some(Direct {
                client: client.clone(),
                scripts: Scripts::new(),
                pool: Mutex::new(Vec::new()),
                timeout: op_timeout,
            }),
            Target::Cluster(_) => None,
        };
        let thread = std::thread::Builder::new()
            .name("groq-ratelimit-redis".into())
            .spawn(move || runtime.block_on(run(target, op_timeout, lease, rx, renewing)))?;
        Ok(Self {
            direct,
            outstanding: Arc::default(),
            jobs: Some(jobs),
            thread: Some(thread),
            live,
        })
    }

    /// Runs `op` and waits at most `timeout` for its answer.
    pub(crate) fn call(
        &self,
        op: Op,
        keys: [String; 2],
        args: Vec<String>,
        timeout: Duration,
    ) -> Answer {
        if let Some(direct) = &self.direct {
            return direct.call(op, &keys, &args, &|owed| self.enqueue(owed));
        }
        let (reply, answer) = sync_channel(1);
        let job = Job {
            op,
            keys,
            args,
            reply: Some(reply),
            retry_for: Duration::ZERO,
            _done: None,
        };
        if self
            .jobs
            .as_ref()
            .is_none_or(|jobs| jobs.send(job).is_err())
        {
            return Err("the Redis connection thread has stopped".into());
        }
        match answer.recv_timeout(timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("Redis did not answer within {timeout:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err("the Redis connection thread has stopped".into())
            }
        }
    }

    /// Runs `op` without waiting, retrying failures for `retry_for`: written to an idle
    /// pooled connection when there is one, else handed to the connection thread.
    pub(crate) fn send(&self, op: Op, keys: [String; 2], args: Vec<String>, retry_for: Duration) {
        *self
            .outstanding
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        let update = Owed {
            op,
            keys,
            args,
            retry_for,
            done: Done(Arc::clone(&self.outstanding)),
        };
        let update = match &self.direct {
            Some(direct) => match direct.send(update, &|owed| self.enqueue(owed)) {
                Ok(()) => return,
                Err(update) => update,
            },
            None => update,
        };
        self.enqueue(update);
    }

    /// Hands an update to the connection thread, which retries it for its `retry_for`.
    fn enqueue(&self, update: Owed) {
        let Some(jobs) = &self.jobs else { return };
        let _ = jobs.send(Job {
            op: update.op,
            keys: update.keys,
            args: update.args,
            reply: None,
            retry_for: update.retry_for,
            _done: Some(update.done),
        });
    }

    /// Waits at most `timeout` until every job sent without a reply has finished; whether
    /// they all have.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        if let Some(direct) = &self.direct {
            direct.drain(&|owed| self.enqueue(owed));
        }
        let (count, finished) = &*self.outstanding;
        let guard = count.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = finished
            .wait_timeout_while(guard, timeout, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *guard == 0
    }
}

async fn connect(target: &Target, op_timeout: Duration) -> redis::RedisResult<Conn> {
    match target {
        Target::Single(client) => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(op_timeout)
                .set_response_timeout(op_timeout)
                .set_number_of_retries(2)
                .set_factor(50)
                .set_max_delay(1_000);
            ConnectionManager::new_with_config(client.clone(), config)
                .await
                .map(Conn::Single)
        }
        Target::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
    }
}

fn script_of(scripts: &Scripts, op: Op) -> &redis::Script {
    match op {
        Op::Reserve => &scripts.reserve,
        Op::Settle => &scripts.settle,
        Op::Penalize => &scripts.penalize,
        Op::Observe => &scripts.observe,
        Op::Absorb => &scripts.absorb,
        Op::Snapshot => &scripts.snapshot,
        Op::Renew => &scripts.renew,
        Op::Time => &scripts.time,
    }
}

fn prepare<'a>(
    scripts: &'a Scripts,
    op: Op,
    keys: &[String; 2],
    args: &[String],
) -> redis::ScriptInvocation<'a> {
    let script = script_of(scripts, op);
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    for arg in args {
        invocation.arg(arg);
    }
    invocation
}

/// Whether `op`'s script answers a single string (the others answer an array).
fn answers_one(op: Op) -> bool {
    matches!(
        op,
        Op::Penalize | Op::Observe | Op::Absorb | Op::Renew | Op::Time
    )
}

async fn invoke(
    conn: &mut Conn,
    scripts: &Scripts,
    op: Op,
    keys: &[String; 2],
    args: &[String],
) -> redis::RedisResult<Vec<String>> {
    let invocation = prepare(scripts, op, keys, args);
    match op {
        op if answers_one(op) => match conn {
            Conn::Single(c) => invocation.invoke_async::<String>(c).await.map(|s| vec![s]),
            Conn::Cluster(c) => invocation.invoke_async::<String>(c).await.map(|s| vec![s]),
        },
        _ => match conn {
            Conn::Single(c) => invocation.invoke_async(c).await,
            Conn::Cluster(c) => invocation.invoke_async(c).await,
        },
    }
}

async fn run(
    target: Target,
    op_timeout: Duration,
    lease: Duration,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    live: Live,
) {
    let scripts = Arc::new(Scripts::new());
    let (conn_tx, conn_rx) = watch::channel::<Result<Conn, String>>(Err("connecting".into()));
    let connector = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            match connect(&target, op_timeout).await {
                Ok(conn) => {
                    let _ = conn_tx.send(Ok(conn));
                    return;
                }
                Err(e) => {
                    let _ = conn_tx.send(Err(e.to_string()));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    });
    let renewer = {
        let conn_rx = conn_rx.clone();
        let scripts = Arc::clone(&scripts);
        let lease_us = crate::scripts::micros_ceil(lease).to_string();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            loop {
                tick.tick().await;
                let held: Vec<([String; 2], Vec<String>)> = live
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(keys, ids)| (keys.clone(), ids.iter().cloned().collect()))
                    .collect();
                let Ok(mut conn) = conn_rx.borrow().clone() else {
                    continue;
                };
                for (keys, ids) in held {
                    let mut args = vec![lease_us.clone()];
                    args.extend(ids);
                    if let Err(e) = invoke(&mut conn, &scripts, Op::Renew, &keys, &args).await {
                        tracing::debug!(error = %e, "renewing leases failed");
                    }
                }
            }
        })
    };
    let mut running = tokio::task::JoinSet::new();
    while let Some(job) = jobs.recv().await {
        while running.try_join_next().is_some() {}
        let conn_rx = conn_rx.clone();
        let scripts = Arc::clone(&scripts);
        running.spawn(async move {
            let job = job;
            let _done = &job._done;
            let deadline = tokio::time::Instant::now() + job.retry_for;
            let mut backoff = Duration::from_millis(20);
            let mut conn_rx = conn_rx;
            let connect_deadline = tokio::time::Instant::now() + op_timeout;
            loop {
                // Wait (at most the operation timeout) for a connection being made.
                while conn_rx.borrow().is_err() {
                    let left =
                        connect_deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero()
                        || !matches!(
                            tokio::time::timeout(left, conn_rx.changed()).await,
                            Ok(Ok(()))
                        )
                    {
                        break;
                    }
                }
                let current = conn_rx.borrow().clone();
                let answer = match current {
                    Ok(mut conn) => invoke(&mut conn, &scripts, job.op, &job.keys, &job.args)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("not connected to Redis: {e}")),
                };
                match (answer, &job.reply) {
                    (answer, Some(reply)) => {
                        if let Err(unheard) = reply.send(answer)
                            && let (Op::Reserve, Ok(fields)) = (job.op, unheard.0)
                            && let Some(args) = refund_args(&job.args, &fields)
                        {
                            // Nobody waits for this admission any more (the caller timed
                            // out): give it back at once rather than let its lease expire.
                            if let Some(mut conn) = conn_or_skip(&conn_rx) {
                                let _ =
                                    invoke(&mut conn, &scripts, Op::Settle, &job.keys, &args).await;
                            }
                        }
                        return;
                    }
                    (Ok(_), None) => return,
                    (Err(e), None) => {
                        if tokio::time::Instant::now() + backoff > deadline {
                            tracing::warn!(error = %e, op = ?job.op, "a Redis update was given up");
                            return;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        });
    }
    renewer.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while running.join_next().await.is_some() {}
    })
    .await;
    connector.abort();
}

fn conn_or_skip(conn_rx: &watch::Receiver<Result<Conn, String>>) -> Option<Conn> {
    conn_rx.borrow().clone().ok()
}

/// The settle arguments that refund a reserve answered `ok` (`fields`) for `args`.
fn refund_args(args: &[String], fields: &[String]) -> Option<Vec<String>> {
    let marks_end = 5 + 6 * crate::scripts::DIMS;
    if fields.first().map(String::as_str) != Some("ok")
        || fields.len() < marks_end
        || args.len() < 6
    {
        return None;
    }
    // id, refund, no actual units, the five charged units, the margin, the marks.
    let mut settle = vec![fields[1].clone(), "r".to_owned()];
    settle.extend(std::iter::repeat_n("0".to_owned(), 5));
    settle.extend(args[..6].iter().cloned());
    settle.extend(fields[5..marks_end].iter().cloned());
    Some(settle)
}
