//! Redis-backed registry shared by every node.
//!
//! Layout, under a configurable prefix `P`: a hash `P:call:<sid>` per call (node, state,
//! started_at) with a key TTL, and a sorted set `P:calls` scoring each sid by its expiry
//! (Unix ms) so the cluster-wide count is `ZREMRANGEBYSCORE` + `ZCARD` in one atomic pipeline,
//! never a `KEYS` scan; `P:ringing` holds, the same way, the calls whose media has not
//! started (reserved at a webhook), so the cluster's reservations are counted alike.

#![allow(clippy::disallowed_methods)] // Expiry scores are wall-clock times.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use super::{CallState, ClusterCounts, LiveCall, StoreError};

/// Every Redis call is bounded: a registry that hangs must not hang a call.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// A registry in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| StoreError {
        op,
        reason: e.to_string(),
    }
}

async fn bounded<T>(
    op: &'static str,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(OP_TIMEOUT, fut)
        .await
        .map_err(|_| StoreError {
            op,
            reason: format!("no answer within {OP_TIMEOUT:?}"),
        })?
}

impl RedisStore {
    /// Connects to `url`, namespacing keys under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(err("connect"))?;
        let conn = bounded("connect", async {
            client
                .get_connection_manager()
                .await
                .map_err(err("connect"))
        })
        .await?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn call_key(&self, sid: &str) -> String {
        format!("{}:call:{sid}", self.prefix)
    }

    fn set_key(&self) -> String {
        format!("{}:calls", self.prefix)
    }

    fn ringing_key(&self) -> String {
        format!("{}:ringing", self.prefix)
    }

    /// Adds `sid` to, or removes it from, the reserved calls, as its state says.
    fn mark_state(&self, pipe: &mut redis::Pipeline, sid: &str, state: CallState, expiry: u64) {
        if state == CallState::Ringing {
            pipe.zadd(self.ringing_key(), sid, expiry).ignore();
        } else {
            pipe.zrem(self.ringing_key(), sid).ignore();
        }
    }

    pub(super) async fn register(&self, call: &LiveCall, ttl: Duration) -> Result<(), StoreError> {
        let key = self.call_key(&call.call_sid);
        let fields = [
            ("node", call.node.clone()),
            ("state", call.state.as_str().to_string()),
            ("started_at", call.started_at.to_string()),
        ];
        let expiry = now_ms() + ttl.as_millis() as u64;
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&key)
            .ignore()
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, ttl.as_secs() as i64)
            .ignore()
            .zadd(self.set_key(), &call.call_sid, expiry)
            .ignore();
        self.mark_state(&mut pipe, &call.call_sid, call.state, expiry);
        bounded("register", async {
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(err("register"))
        })
        .await
    }

    /// One script, so that two nodes admitting at once cannot both take the last place:
    /// drop lapsed leases, refuse when the cluster is full (a sid already there is a
    /// re-registration, never refused), then register as `register` does.
    pub(super) async fn admit(
        &self,
        call: &LiveCall,
        ttl: Duration,
        limit: Option<u64>,
    ) -> Result<bool, StoreError> {
        static ADMIT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"
                redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
                local limit = tonumber(ARGV[4])
                if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1])
                    and redis.call('ZCARD', KEYS[1]) >= limit then
                    return 0
                end
                redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
                redis.call('DEL', KEYS[2])
                redis.call('HSET', KEYS[2], 'node', ARGV[5], 'state', ARGV[6], 'started_at', ARGV[7])
                redis.call('EXPIRE', KEYS[2], ARGV[8])
                if ARGV[6] == 'ringing' then
                    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
                else
                    redis.call('ZREM', KEYS[3], ARGV[1])
                end
                return 1
                ",
            )
        });
        let now = now_ms();
        let mut conn = self.conn.clone();
        let mut invocation = ADMIT.key(self.set_key());
        invocation
            .key(self.call_key(&call.call_sid))
            .key(self.ringing_key())
            .arg(&call.call_sid)
            .arg(now)
            .arg(now + ttl.as_millis() as u64)
            .arg(limit.unwrap_or(0))
            .arg(&call.node)
            .arg(call.state.as_str())
            .arg(call.started_at)
            .arg(ttl.as_secs().max(1));
        let admitted: i64 = bounded("admit", async {
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(err("admit"))
        })
        .await?;
        Ok(admitted == 1)
    }

    pub(super) async fn set_state(
        &self,
        sid: &str,
        state: CallState,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.call_key(sid);
        let expiry = now_ms() + ttl.as_millis() as u64;
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, "state", state.as_str())
            .ignore()
            .expire(&key, ttl.as_secs() as i64)
            .ignore()
            .zadd(self.set_key(), sid, expiry)
            .ignore();
        self.mark_state(&mut pipe, sid, state, expiry);
        bounded("set_state", async {
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(err("set_state"))
        })
        .await
    }

    pub(super) async fn heartbeat(&self, sids: &[String], ttl: Duration) -> Result<(), StoreError> {
        if sids.is_empty() {
            return Ok(());
        }
        let expiry = now_ms() + ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        for sid in sids {
            pipe.expire(self.call_key(sid), ttl.as_secs() as i64)
                .ignore()
                .zadd(self.set_key(), sid, expiry)
                .ignore();
        }
        let mut conn = self.conn.clone();
        bounded("heartbeat", async {
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(err("heartbeat"))
        })
        .await
    }

    pub(super) async fn remove(&self, sid: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        bounded("remove", async {
            redis::pipe()
                .atomic()
                .del(self.call_key(sid))
                .ignore()
                .zrem(self.set_key(), sid)
                .ignore()
                .zrem(self.ringing_key(), sid)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(err("remove"))
        })
        .await
    }

    fn decision_key(&self, sid: &str) -> String {
        format!("{}:decision:{sid}", self.prefix)
    }

    fn caller_key(&self, sid: &str) -> String {
        format!("{}:caller:{sid}", self.prefix)
    }

    /// `SET key value PX ttl`: a fact about a call another node may need, for a while.
    async fn set_for(
        &self,
        op: &'static str,
        key: String,
        value: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        bounded(op, async {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
                .map_err(err(op))
        })
        .await
    }

    /// `GET` (or `GETDEL`, to take it once) of a string key.
    async fn read(
        &self,
        op: &'static str,
        command: &str,
        key: String,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        bounded(op, async {
            redis::cmd(command)
                .arg(key)
                .query_async::<Option<String>>(&mut conn)
                .await
                .map_err(err(op))
        })
        .await
    }

    fn streamed_key(&self, sid: &str) -> String {
        format!("{}:streamed:{sid}", self.prefix)
    }

    pub(super) async fn claim_stream(
        &self,
        sid: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = bounded("claim_stream", async {
            redis::cmd("SET")
                .arg(self.streamed_key(sid))
                .arg(node)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await
                .map_err(err("claim_stream"))
        })
        .await?;
        Ok(set.is_some())
    }

    pub(super) async fn put_caller(
        &self,
        sid: &str,
        number: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.set_for("put_caller", self.caller_key(sid), number, ttl)
            .await
    }

    pub(super) async fn caller(&self, sid: &str) -> Result<Option<String>, StoreError> {
        self.read("caller", "GET", self.caller_key(sid)).await
    }

    pub(super) async fn put_decision(
        &self,
        sid: &str,
        decision: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.set_for("put_decision", self.decision_key(sid), decision, ttl)
            .await
    }

    pub(super) async fn take_decision(&self, sid: &str) -> Result<Option<String>, StoreError> {
        self.read("take_decision", "GETDEL", self.decision_key(sid))
            .await
    }

    pub(super) async fn get(&self, sid: &str) -> Result<Option<LiveCall>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = bounded("get", async {
            redis::cmd("HGETALL")
                .arg(self.call_key(sid))
                .query_async(&mut conn)
                .await
                .map_err(err("get"))
        })
        .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let bad = |what: &str| StoreError {
            op: "get",
            reason: format!("entry for {sid} has no valid {what}"),
        };
        Ok(Some(LiveCall {
            call_sid: sid.to_string(),
            node: fields.get("node").cloned().ok_or_else(|| bad("node"))?,
            state: fields
                .get("state")
                .and_then(|s| CallState::parse(s))
                .ok_or_else(|| bad("state"))?,
            started_at: fields
                .get("started_at")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("started_at"))?,
        }))
    }

    pub(super) async fn counts(&self) -> Result<ClusterCounts, StoreError> {
        let mut conn = self.conn.clone();
        let now = now_ms();
        let (live, reserved): (u64, u64) = bounded("counts", async {
            redis::pipe()
                .atomic()
                .zrembyscore(self.set_key(), "-inf", now)
                .ignore()
                .zrembyscore(self.ringing_key(), "-inf", now)
                .ignore()
                .zcard(self.set_key())
                .zcard(self.ringing_key())
                .query_async(&mut conn)
                .await
                .map_err(err("counts"))
        })
        .await?;
        Ok(ClusterCounts { live, reserved })
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        bounded("ping", async {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
                .map_err(err("ping"))
        })
        .await
    }
}
