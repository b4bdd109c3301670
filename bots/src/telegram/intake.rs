//! Where updates come in: long polling or the core's webhook queue, at most `MAX_IN_FLIGHT`
//! handled at once, each batch recorded (redeliveries skipped) before it is handled; album
//! parts gathered into one message. Recording before handling makes each update at most
//! once: a crash mid-handling loses that one command (its author sees no answer and can send
//! it again) rather than risking a second post when Telegram redelivers it.

use super::*;
use autopost::store::StoreError;

impl Inner {
    pub(super) async fn poll(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut offset: i32 = 0;
        let mut backoff = Backoff::new(&self.options);
        let mut handlers = JoinSet::new();
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let timeout = u32::try_from(self.options.poll_timeout.as_secs()).unwrap_or(10);
        // Ask only for what can be handled now: a backlog stays at Telegram, not in memory.
        while let Some(free) = free_slots(&mut handlers, &slots, &mut shutdown).await {
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .limit(u8::try_from(free.min(100)).unwrap_or(100))
                .timeout(timeout)
                .allowed_updates(ALLOWED_UPDATES);
            let answer = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                answer = request.into_future() => answer,
            };
            let wait = match answer {
                Ok(updates) => {
                    let next = updates
                        .iter()
                        .map(|u| i32::try_from(u.id.0).unwrap_or(i32::MAX).saturating_add(1))
                        .max();
                    match self.dispatch(&mut handlers, &slots, updates).await {
                        // Confirmed with the next call's offset only once recorded, so a
                        // database failure gets the same updates again instead of losing them.
                        Ok(()) => {
                            backoff.reset();
                            offset = next.map_or(offset, |next| offset.max(next));
                            continue;
                        }
                        Err(e) => {
                            let wait = backoff.next();
                            tracing::error!(error = %autopost::telemetry::chain(&e), wait_ms = wait.as_millis() as u64, "cannot record Telegram updates; asking again");
                            wait
                        }
                    }
                }
                Err(e) => {
                    let error = TelegramError::from(e);
                    match error {
                        TelegramError::RetryAfter(wait) => wait,
                        other => {
                            let wait = backoff.next();
                            tracing::warn!(error = %autopost::telemetry::chain(&other), wait_ms = wait.as_millis() as u64, "getUpdates failed");
                            wait
                        }
                    }
                }
            };
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        while handlers.join_next().await.is_some() {}
        self.finish_albums().await;
    }

    /// Handles the updates the core's webhook route accepted. After the stop the web server
    /// has already closed, so the queue is drained: those updates were answered 200 and
    /// Telegram will not send them again.
    pub(super) async fn take_webhook_updates(
        self: Arc<Self>,
        mut updates: mpsc::Receiver<Bytes>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut handlers = JoinSet::new();
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        // While every slot is busy, updates wait in the route's queue, and once that is full
        // Telegram is told to come back later.
        while let Some(free) = free_slots(&mut handlers, &slots, &mut shutdown).await {
            let body = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                body = updates.recv() => body,
            };
            let Some(body) = body else { break };
            let mut batch = vec![body];
            while batch.len() < free.min(100) {
                match updates.try_recv() {
                    Ok(body) => batch.push(body),
                    Err(_) => break,
                }
            }
            self.dispatch_raw(&mut handlers, &slots, &batch).await;
        }
        updates.close();
        loop {
            wait_for_slots(&slots).await;
            let Some(body) = updates.recv().await else {
                break;
            };
            self.dispatch_raw(&mut handlers, &slots, &[body]).await;
        }
        while handlers.join_next().await.is_some() {}
        self.finish_albums().await;
    }

    /// Reads webhook bodies and dispatches them. Already answered 200, they cannot be asked
    /// for again: a database failure here loses them, and is logged as an error.
    pub(super) async fn dispatch_raw(
        self: &Arc<Self>,
        handlers: &mut JoinSet<()>,
        slots: &Arc<Semaphore>,
        bodies: &[Bytes],
    ) {
        let updates: Vec<Update> = bodies
            .iter()
            .filter_map(|body| match decode::update(body) {
                Ok(update) => Some(update),
                // The route checked `update_id`; the rest is Telegram's and may be newer.
                Err(e) => {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot read a Telegram update; skipped");
                    self.count_taken(1);
                    None
                }
            })
            .collect();
        if let Err(e) = self.dispatch(handlers, slots, updates).await {
            tracing::error!(error = %autopost::telemetry::chain(&e), "cannot record Telegram updates; they are lost");
        }
    }

    /// Records a batch of updates as seen in one write, then handles each one not seen
    /// before (Telegram redelivers when unsure) in its own task holding one slot.
    pub(super) async fn dispatch(
        self: &Arc<Self>,
        handlers: &mut JoinSet<()>,
        slots: &Arc<Semaphore>,
        updates: Vec<Update>,
    ) -> Result<(), FrontEndError> {
        if updates.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = updates.iter().map(|u| u.id.0.to_string()).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let recorded = self
            .app
            .first_deliveries(ChatPlatform::Telegram, &id_refs, chrono::Utc::now())
            .await;
        let mut fresh: std::collections::HashSet<String> = match recorded {
            Ok(fresh) => fresh.into_iter().collect(),
            Err(e) if StoreError::is_storage_full_in(&e) => {
                // Nothing can be recorded, so nothing is taken: each person hears so now, and
                // the updates are confirmed rather than fetched again into the same full disk.
                let reply = commands::internal(&e);
                for update in updates {
                    let inner = self.clone();
                    let reply = reply.clone();
                    handlers.spawn(async move {
                        inner.refuse_unstored(update, &reply).await;
                        inner.count_taken(1);
                    });
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for (update, id) in updates.into_iter().zip(&ids) {
            // Taken out when handled: a webhook batch can hold the same update twice (Telegram
            // resent it while the first copy waited in the queue).
            if !fresh.remove(id) {
                tracing::debug!(update_id = update.id.0, "update already handled; skipped");
                self.count_taken(1);
                continue;
            }
            // The caller waited for free slots; a missing one only means a brief overshoot.
            let slot = slots.clone().try_acquire_owned().ok();
            let inner = self.clone();
            let span = tracing::info_span!(
                "update",
                update_id = update.id.0,
                chat = tracing::field::Empty,
                user = tracing::field::Empty
            );
            handlers.spawn(
                async move {
                    inner.clone().on_update(update).await;
                    inner.count_taken(1);
                    drop(slot);
                }
                .instrument(span),
            );
        }
        Ok(())
    }

    /// Counts updates done with, for [`TelegramFrontEnd::taken_updates`].
    pub(super) fn count_taken(&self, updates: u64) {
        self.taken.send_modify(|taken| *taken += updates);
    }

    /// Buffers one part of an album; the first part starts the timer that hands the whole
    /// album on after `album_quiet` without a new part.
    pub(super) fn album_part(self: &Arc<Self>, group: String, message: Message) {
        let first = {
            let mut albums = self.albums.lock().unwrap_or_else(PoisonError::into_inner);
            let album = albums.entry(group.clone()).or_insert_with(|| Album {
                parts: Vec::new(),
                last_part: Instant::now(),
            });
            album.parts.push(message);
            album.last_part = Instant::now();
            album.parts.len() == 1
        };
        if !first {
            return;
        }
        let inner = self.clone();
        let timer = tokio::spawn(
            async move {
                let quiet = inner.options.album_quiet;
                let mut wait = quiet;
                let parts = loop {
                    let mut flushed = inner.albums_flushed.subscribe();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        // Handed on at shutdown: the album is gone from the map.
                        _ = flushed.wait_for(|flushed| *flushed) => {}
                    }
                    let mut albums = inner.albums.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(album) = albums.get(&group) else {
                        return;
                    };
                    let since = album.last_part.elapsed();
                    if since >= quiet {
                        break albums.remove(&group).map(|a| a.parts).unwrap_or_default();
                    }
                    wait = quiet - since;
                };
                if parts.is_empty() {
                    return;
                }
                if let Err(e) = inner.on_message(parts).await {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "album not handled");
                }
            }
            .instrument(tracing::Span::current()),
        );
        let mut timers = self
            .album_timers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        timers.retain(|t| !t.is_finished());
        timers.push(timer);
    }

    /// At shutdown: albums still waiting for their quiet time are handled now (their updates
    /// are confirmed and will not come again), and albums being handled are awaited.
    pub(super) async fn finish_albums(&self) {
        let waiting: Vec<Vec<Message>> = self
            .albums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, album)| album.parts)
            .collect();
        for parts in waiting {
            if let Err(e) = self.on_message(parts).await {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "album not handled");
            }
        }
        self.albums_flushed.send_replace(true);
        let timers = std::mem::take(
            &mut *self
                .album_timers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for timer in timers {
            if let Err(e) = timer.await {
                tracing::error!(error = %autopost::telemetry::chain(&e), "album task ended abnormally");
            }
        }
    }
}

/// Updates handled at once; more wait at Telegram (polling) or in the webhook queue.
pub(super) const MAX_IN_FLIGHT: usize = 256;

/// Forgets finished handlers, then waits until a handler slot is free (returning how many
/// are) or the stop comes (`None`).
async fn free_slots(
    handlers: &mut JoinSet<()>,
    slots: &Semaphore,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<usize> {
    while handlers.try_join_next().is_some() {}
    tokio::select! {
        biased;
        () = stopped(shutdown) => None,
        free = wait_for_slots(slots) => Some(free),
    }
}

/// Waits until at least one handler slot is free; returns how many are.
pub(super) async fn wait_for_slots(slots: &Semaphore) -> usize {
    if slots.available_permits() == 0 {
        // Dropped at once: this only waits for a handler to finish.
        let _ = slots.acquire().await;
    }
    slots.available_permits().max(1)
}
