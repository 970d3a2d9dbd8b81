//! Which router task serves which realm, and how a connection finds the task that serves
//! its session.
//!
//! A connection starts in the lobby, a task with no realm: it answers whatever comes before
//! a HELLO (and the handshake timeout) as a router with no realm would. A HELLO naming a
//! realm moves the connection to that realm's task (created on demand when the router
//! creates realms), and a HELLO after the router's reply to the client's GOODBYE may move
//! it again. A HELLO the lobby keeps names no realm there is: the lobby ABORTs it.
//!
//! The realm's task times the handshake from the HELLO on: a client has the handshake
//! timeout to send HELLO (the lobby's) and the handshake timeout again to finish joining.
//! Session IDs are drawn by each task on its own, from differently seeded generators.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use futures::channel::{mpsc, oneshot};
use futures::SinkExt;
use nexus_core::router::{ConnectionId, RouterConfig, TransportAuth};
use nexus_core::{Message, Serializer, Uri};

use super::task::{self, HostInput, TaskSetup};
use super::HostShared;
use crate::wire::{Out, Window};

/// The router tasks of one router.
pub(super) struct Directory {
    lobby: mpsc::Sender<HostInput>,
    realms: Mutex<HashMap<Uri, mpsc::Sender<HostInput>>>,
    /// The configuration of every task, without its realms: a realm created on demand
    /// gets a task of its own with this.
    template: RouterConfig,
    seed: u64,
    setup: TaskSetup,
}

impl Directory {
    /// A task for each realm of `config` and the lobby. Returns the lobby router's key for
    /// cookie values too (`None` without operating-system randomness).
    pub(super) fn start(
        mut config: RouterConfig,
        seed: u64,
        setup: TaskSetup,
        shared: &Weak<HostShared>,
    ) -> (Directory, Option<[u8; 32]>) {
        let configured = std::mem::take(&mut config.realms);
        let mut lobby = task::new_router(config.clone(), task_seed(seed, None));
        let cookie_key = lobby.cookie_store_key();
        let lobby = task::spawn_router(&setup, lobby, None, shared.clone());
        let mut realms = HashMap::new();
        for realm in configured {
            // Duplicates in the configuration: the first one wins, as in a single router.
            if realms.contains_key(&realm.name) {
                continue;
            }
            let name = realm.name.clone();
            let config = RouterConfig {
                realms: vec![realm],
                ..config.clone()
            };
            let seed = task_seed(seed, Some(&name));
            let tx = task::spawn(&setup, config, seed, Some(name.clone()), shared.clone());
            realms.insert(name, tx);
        }
        let directory = Directory {
            lobby,
            realms: Mutex::new(realms),
            template: config,
            seed,
            setup,
        };
        (directory, cookie_key)
    }

    /// The input of the task serving `realm` (`None`: the lobby), if it exists.
    pub(super) fn sender(&self, realm: Option<&Uri>) -> Option<mpsc::Sender<HostInput>> {
        match realm {
            None => Some(self.lobby.clone()),
            Some(realm) => self.realms.lock().ok()?.get(realm).cloned(),
        }
    }

    /// Every task's input, the lobby's first.
    pub(super) fn all(&self) -> Vec<mpsc::Sender<HostInput>> {
        let mut all = vec![self.lobby.clone()];
        if let Ok(realms) = self.realms.lock() {
            all.extend(realms.values().cloned());
        }
        all
    }

    /// The task a HELLO for `realm` goes to: the realm's own, a new one when the router
    /// creates realms on demand, or else the lobby (which ABORTs it: no such realm).
    fn task_for(
        &self,
        shared: &Arc<HostShared>,
        realm: &Uri,
    ) -> (Option<Uri>, mpsc::Sender<HostInput>) {
        let Ok(mut realms) = self.realms.lock() else {
            return (None, self.lobby.clone());
        };
        if let Some(tx) = realms.get(realm) {
            return (Some(realm.clone()), tx.clone());
        }
        if !self.template.auto_create_realms
            || shared.stopping.load(std::sync::atomic::Ordering::SeqCst)
        {
            return (None, self.lobby.clone());
        }
        // The task's router creates the realm itself when the HELLO arrives, as one
        // router with every realm would.
        let seed = task_seed(self.seed, Some(realm));
        let weak = Arc::downgrade(shared);
        let tx = task::spawn(
            &self.setup,
            self.template.clone(),
            seed,
            Some(realm.clone()),
            weak,
        );
        realms.insert(realm.clone(), tx.clone());
        (Some(realm.clone()), tx)
    }
}

/// A task's ID seed: the router's, mixed with the realm's name (SplitMix64's finalizer over
/// FNV-1a), so realms draw different IDs from the same configured seed.
fn task_seed(seed: u64, realm: Option<&Uri>) -> u64 {
    let name = realm.map_or("", |r| r.as_str());
    let mut z = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    }) ^ seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a connection tells a task when it attaches (again, when it moves).
#[derive(Clone)]
pub(crate) struct Attachment {
    pub(crate) serializer: Serializer,
    pub(crate) local: bool,
    /// The transport's label for trust levels (`ws`, `wss`, `tcp`, `tcps`, `unix`,
    /// `local`).
    pub(crate) transport: &'static str,
    /// The largest message the peer accepts (none for in-process links).
    pub(crate) frame_limit: Option<usize>,
    /// Cookie, client certificate and channel binding.
    pub(crate) auth: TransportAuth,
}

/// The router task a connection is attached to, and the channel its messages come back on.
pub(crate) struct Home {
    shared: Arc<HostShared>,
    host: mpsc::Sender<HostInput>,
    conn: ConnectionId,
    /// What the task sends this connection.
    pub(crate) rx: mpsc::UnboundedReceiver<Out>,
    /// The connection's flow-control window with the task.
    pub(crate) window: Arc<Window>,
    /// The realm whose task this is (`None`: the lobby).
    realm: Option<Uri>,
    /// A HELLO went to this task, and the task has not since answered the client's
    /// GOODBYE: another HELLO is the task's to judge (a protocol violation), not a move.
    in_session: bool,
    attachment: Attachment,
}

/// The router is gone.
#[derive(Debug)]
pub(crate) struct Stopped;

impl Home {
    /// Attaches a new connection to the lobby.
    pub(crate) async fn attach(
        shared: Arc<HostShared>,
        attachment: Attachment,
    ) -> Result<Home, Stopped> {
        let lobby = shared.directory.sender(None).ok_or(Stopped)?;
        let (host, conn, rx, window) = attach_to(lobby, &attachment).await?;
        Ok(Home {
            shared,
            host,
            conn,
            rx,
            window,
            realm: None,
            in_session: false,
            attachment,
        })
    }

    /// The connection's handle in its task.
    pub(crate) fn conn(&self) -> ConnectionId {
        self.conn
    }

    /// Hands a message to the router, moving to the task of the realm a HELLO names
    /// first when it should.
    pub(crate) async fn message(&mut self, message: Message) -> Result<(), Stopped> {
        if let Message::Hello(hello) = &message {
            if !self.in_session {
                self.settle(&hello.realm.clone()).await?;
            }
            self.in_session = true;
        }
        self.tell(HostInput::Message(self.conn, message)).await
    }

    /// Tells the connection's task something about it.
    pub(crate) async fn tell(&mut self, input: HostInput) -> Result<(), Stopped> {
        self.host.send(input).await.map_err(|_| Stopped)
    }

    /// Notes a message on its way to the peer: the task's answer to the client's GOODBYE
    /// ends the session, so the next HELLO may name another realm.
    pub(crate) fn sending(&mut self, out: &Out) {
        if let Out::Message(m) = out {
            if let Message::Goodbye(g) = &**m {
                if g.reason.as_str() == nexus_core::uri::close::GOODBYE_AND_OUT {
                    self.in_session = false;
                }
            }
        }
    }

    /// Detaches from the task.
    pub(crate) async fn detach(&mut self) {
        let _ = self.host.send(HostInput::Detach(self.conn)).await;
    }

    /// Moves to the task that serves `realm`, unless this is it.
    async fn settle(&mut self, realm: &Uri) -> Result<(), Stopped> {
        let (name, target) = self.shared.directory.task_for(&self.shared, realm);
        if name == self.realm {
            return Ok(());
        }
        // No session is open here, so nothing more comes from this task: what it sent
        // has been written.
        let (host, conn, rx, window) = attach_to(target, &self.attachment).await?;
        self.detach().await;
        tracing::debug!(
            "{:?} moves to the task of realm {realm} as {conn:?}",
            self.conn
        );
        self.host = host;
        self.conn = conn;
        self.rx = rx;
        self.window = window;
        self.realm = name;
        Ok(())
    }
}

/// Attaches a connection to the task behind `host`.
async fn attach_to(
    mut host: mpsc::Sender<HostInput>,
    attachment: &Attachment,
) -> Result<
    (
        mpsc::Sender<HostInput>,
        ConnectionId,
        mpsc::UnboundedReceiver<Out>,
        Arc<Window>,
    ),
    Stopped,
> {
    let (tx, rx) = mpsc::unbounded();
    let window = Arc::new(Window::default());
    let (reply, conn) = oneshot::channel();
    let attach = HostInput::Attach {
        serializer: attachment.serializer,
        tx,
        window: window.clone(),
        local: attachment.local,
        transport: attachment.transport,
        frame_limit: attachment.frame_limit,
        auth: Box::new(attachment.auth.clone()),
        reply,
    };
    host.send(attach).await.map_err(|_| Stopped)?;
    let conn = conn.await.map_err(|_| Stopped)?;
    Ok((host, conn, rx, window))
}
