//! Where updates come in: long polling or the core's webhook queue, at most `MAX_IN_FLIGHT`
//! handled at once, each batch recorded (redeliveries skipped) before it is handled; album
//! parts gathered into one message. Recording before handling makes each update at most
//! once: a crash mid-handling loses that one command (its author sees no answer and can send
//! it again) rather than risking a second post when Telegram redelivers it.
//!
//! Several instances may share the work. The webhook route writes each update to the
//! database before answering; the sweeper of every instance hands on updates whose instance
//! died before taking them, so an update accepted is never lost by a crash before its
//! handling began. Album parts wait in the database, where parts that reached different
//! instances meet, and the album is taken out once, by one instance, when it fell quiet.

use super::*;
use autopost::store::StoreError;

/// How often every instance looks for updates and albums left behind by an instance that
/// died (the webhook's, after the claim of the instance that accepted them ended).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Most stranded updates taken in one sweep.
const SWEEP_BATCH: u32 = 100;

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
                    match self.dispatch(&mut handlers, &slots, updates, false).await {
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
    /// for again, but they are in the database: one that cannot be recorded as seen now is
    /// swept up again once its claim ends.
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
                    if let Ok(id) = webhook::update_id(body) {
                        self.forget_accepted(&id.to_string());
                    }
                    self.count_taken(1);
                    None
                }
            })
            .collect();
        if let Err(e) = self.dispatch(handlers, slots, updates, true).await {
            tracing::error!(error = %autopost::telemetry::chain(&e), "cannot record Telegram updates; they wait in the database for another try");
        }
    }

    /// Records a batch of updates as seen in one write, then handles each one not seen
    /// before (Telegram redelivers when unsure) in its own task holding one slot. Updates
    /// `accepted` by the webhook leave the database's inbox once done with.
    pub(super) async fn dispatch(
        self: &Arc<Self>,
        handlers: &mut JoinSet<()>,
        slots: &Arc<Semaphore>,
        updates: Vec<Update>,
        accepted: bool,
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
                        let id = update.id.0.to_string();
                        inner.refuse_unstored(update, &reply).await;
                        if accepted {
                            inner.forget_accepted(&id);
                        }
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
                if accepted {
                    self.forget_accepted(id);
                }
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
            let id = id.clone();
            handlers.spawn(
                async move {
                    inner.clone().on_update(update).await;
                    if accepted {
                        inner.forget_accepted(&id);
                    }
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

    /// Takes an accepted update out of the database's inbox: it was handled, or found
    /// handled before. A failure only means another instance looks at it again, finds it
    /// seen and takes it out.
    pub(super) fn forget_accepted(&self, id: &str) {
        let app = self.app.clone();
        let id = id.to_owned();
        let forgetting = tokio::spawn(async move {
            if let Err(e) = app.delivery_done(ChatPlatform::Telegram, &id).await {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot take a handled Telegram update out of the inbox");
            }
        });
        let mut timers = self
            .album_timers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        timers.retain(|t| !t.is_finished());
        timers.push(forgetting);
    }

    /// Keeps one part of an album in the database, where the parts that reached other
    /// instances are too; the first part seen here starts the timer that hands the whole
    /// album on after `album_quiet` without a new part (whichever instance's timer or sweep
    /// comes first takes it).
    pub(super) async fn album_part(
        self: &Arc<Self>,
        group: String,
        update_id: String,
        message: Message,
    ) -> Result<(), TelegramError> {
        let album = format!("{}:{group}", message.chat.id.0);
        let payload = serde_json::to_vec(&message).map_err(|e| TelegramError::Unreachable {
            detail: format!("cannot keep an album part: {e}"),
        })?;
        self.app
            .keep_album_part(&album, &update_id, &payload, chrono::Utc::now())
            .await?;
        let first = self
            .albums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(album.clone());
        if !first {
            return Ok(());
        }
        let inner = self.clone();
        let timer = tokio::spawn(
            async move {
                let quiet = inner.options.album_quiet;
                let mut wait = quiet;
                let mut flushed = inner.albums_flushed.subscribe();
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        // Handed on at shutdown.
                        _ = flushed.wait_for(|flushed| *flushed) => return,
                    }
                    let last = match inner.app.album_last_part(&album).await {
                        Ok(Some(last)) => last,
                        // Taken, here or by another instance.
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot look at an album; trying again");
                            continue;
                        }
                    };
                    let since = (chrono::Utc::now() - last).to_std().unwrap_or_default();
                    if since >= quiet {
                        inner.hand_on_album(&album, quiet).await;
                        break;
                    }
                    wait = quiet - since;
                }
                inner
                    .albums
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&album);
            }
            .instrument(tracing::Span::current()),
        );
        let mut timers = self
            .album_timers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        timers.retain(|t| !t.is_finished());
        timers.push(timer);
        Ok(())
    }

    /// Takes `album` out of the database if it had no new part for `quiet`, and handles it;
    /// nothing when it is still gathering or another instance took it.
    async fn hand_on_album(&self, album: &str, quiet: Duration) {
        let parts = match self.app.take_album(album, quiet, chrono::Utc::now()).await {
            Ok(parts) => parts,
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot take an album's parts");
                return;
            }
        };
        let parts: Vec<Message> = parts
            .iter()
            .filter_map(|part| match serde_json::from_slice::<Message>(part) {
                Ok(message) => Some(message),
                Err(e) => {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "an album part kept in the database is unreadable; left out");
                    None
                }
            })
            .collect();
        if parts.is_empty() {
            return;
        }
        if let Err(e) = self.on_message(parts).await {
            tracing::warn!(error = %autopost::telemetry::chain(&e), "album not handled");
        }
    }

    /// Until `shutdown`: every [`SWEEP_EVERY`], hands webhook updates whose instance died
    /// before handling them to `queue` (this instance's intake), and handles albums that fell
    /// quiet with no instance's timer to take them.
    pub(super) async fn sweep(
        self: Arc<Self>,
        queue: Option<mpsc::Sender<Bytes>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            if let Some(queue) = &queue {
                self.sweep_inbox(queue).await;
            }
            // A little more than the quiet time, so that a living instance's own timer
            // usually takes its albums.
            let quiet = self.options.album_quiet + SWEEP_EVERY;
            match self.app.quiet_albums(quiet, chrono::Utc::now()).await {
                Ok(albums) => {
                    for album in albums {
                        self.hand_on_album(&album, quiet).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot look for albums left behind");
                }
            }
        }
    }

    async fn sweep_inbox(&self, queue: &mpsc::Sender<Bytes>) {
        let stranded = match self
            .app
            .stranded_deliveries(ChatPlatform::Telegram, SWEEP_BATCH, chrono::Utc::now())
            .await
        {
            Ok(stranded) => stranded,
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot look for Telegram updates left behind");
                return;
            }
        };
        if !stranded.is_empty() {
            tracing::warn!(
                updates = stranded.len(),
                "handling Telegram updates that an instance accepted but did not handle"
            );
        }
        for inbound in stranded {
            match self
                .app
                .delivery_began(ChatPlatform::Telegram, &inbound.delivery_id)
                .await
            {
                Ok(true) => {
                    self.tell_interrupted(&inbound.payload).await;
                    self.forget_accepted(&inbound.delivery_id);
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    // Left claimed: swept up again once the claim runs out.
                    tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot tell whether a stranded Telegram update was begun");
                    continue;
                }
            }
            // The queue is closed at shutdown: what is left stays claimed, and is swept up
            // again once this instance's claim ends or it is gone.
            if queue.send(Bytes::from(inbound.payload)).await.is_err() {
                return;
            }
        }
    }

    /// An update whose instance died while handling it is not handled again (the post it
    /// was making may be stored already): its sender hears so instead of nothing.
    async fn tell_interrupted(&self, payload: &[u8]) {
        match decode::update(payload) {
            Ok(update) => {
                self.refuse_unstored(update, &Reply::interrupted()).await;
            }
            Err(e) => {
                tracing::warn!(error = %autopost::telemetry::chain(&e), "cannot read a stranded Telegram update");
            }
        }
        self.count_taken(1);
    }

    /// At shutdown: albums whose parts came here and are still waiting for their quiet
    /// time are handled now (their updates are confirmed and will not come again), and
    /// albums being handled are awaited.
    pub(super) async fn finish_albums(&self) {
        let waiting: Vec<String> = self
            .albums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        self.albums_flushed.send_replace(true);
        for album in waiting {
            self.hand_on_album(&album, Duration::ZERO).await;
        }
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
