//! The built-in drivers, one file per driver.

#[cfg(feature = "zmq")]
mod zmq;
#[cfg(feature = "zmq")]
pub use zmq::{ZmqClient, ZmqServer, ZmqSocketType};

#[cfg(feature = "fix")]
mod fix;
#[cfg(feature = "fix")]
pub use fix::{FixClient, FixServer, fix_protocol};
mod http;
mod listener;
mod log_pump;
mod log_wake;
#[cfg(feature = "sqlite")]
mod sqlite;
mod tcp;
pub use http::{HttpResponse, HttpServer, ReceivedRequest};
#[cfg(feature = "http-client")]
mod http_client;
#[cfg(feature = "http-client")]
pub use http_client::{HttpClient, HttpReply};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mariadb"))]
mod sql_params;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mariadb"))]
pub use sql_params::{SqlParams, SqlValue};
#[cfg(feature = "mariadb")]
mod mariadb;
#[cfg(feature = "mariadb")]
pub use mariadb::MariaDb;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::Postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::Redis;
mod ports;
mod service;
mod zookeeper;
pub use ports::{PortReservation, reserve_port};
#[cfg(feature = "sqlite")]
pub use sqlite::Sqlite;
pub use tcp::{TcpClient, TcpServer};
pub use zookeeper::Zookeeper;

mod app;
mod ledger;
mod process;
mod readiness;
mod run_as;

pub use app::App;
pub(crate) use app::extracted_value;
#[cfg(feature = "interactive")]
pub(crate) use app::log_tail_of;
pub(crate) use app::shell_quote;
pub(crate) use ledger::{ledger_path, sweep as sweep_leftovers};
pub(crate) use log_pump::LogPump;
#[cfg(feature = "interactive")]
pub(crate) use process::stop_children_left_behind;
pub(crate) use process::{GroupChild, poll_interval, signal_group};
pub(crate) use process::{
    describe_exit, kill_all_process_groups, process_group_alive, register_process_group,
    terminate_all_process_groups, unregister_process_group,
};
pub(crate) use process::{keep_ledger, kill_process_groups, observe_process_groups};
#[cfg(feature = "interactive")]
pub(crate) use process::{release_groups_for_handoff, watch_handed_over_groups};
pub(crate) use readiness::{ProbeTarget, Waiting};
pub use readiness::{ReadinessProbe, WaitFor};
pub(crate) use run_as::RunAs;
