// An independent FIX peer for testrig-fix's interoperability tests, built
// on QuickFIX/C++ (Debian: `apt-get install -y libquickfix-dev g++`).
//
// The Rust test compiles this file, starts it, and talks to it over
// loopback, so our engine is checked against someone else's reading of the
// FIX session protocol rather than only against itself.
//
// Usage: qf_peer acceptor|initiator BEGINSTRING PORT SENDER TARGET LOGDIR
//                [noreset] [ssl] [cert=PEM] [key=PEM] [ca=PEM]
//
//   acceptor   listens on 127.0.0.1:PORT; answers every NewOrderSingle
//              (35=D) with an ExecutionReport (35=8) and keeps running
//              until its standard input closes.
//   initiator  connects to 127.0.0.1:PORT, sends one NewOrderSingle after
//              logon, waits for the ExecutionReport, logs out and exits.
//
// It prints one line per event on stdout ("LOGON", "ORDER <seq> <ClOrdID>",
// "EXEC <seq> <ClOrdID>", "LOGOUT") so the test can follow the exchange.
// Sequence numbers are kept in a file store under LOGDIR for the life of
// the process; with "noreset" a new logon continues them instead of
// starting again at 1, so a test can make the peer see (or cause) a gap.
//
// With "ssl" the session runs over TLS, through QuickFIX's own SSL engine
// (SSLSocketAcceptor / SSLSocketInitiator, OpenSSL underneath):
//   acceptor   presents cert= and key= (required); with ca= it requires
//              clients to present a certificate signed by that CA.
//   initiator  with ca= verifies the server's certificate against it
//              (QuickFIX checks the chain only, not the host name); with
//              cert= and key= it presents a client certificate.

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Message.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/SocketInitiator.h>
// Debian's libquickfix is built with SSL; its headers declare the SSL
// classes only when told so (the build's config.h is not installed).
#ifndef HAVE_SSL
#define HAVE_SSL 1
#endif
#include <quickfix/SSLSocketAcceptor.h>
#include <quickfix/SSLSocketInitiator.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

namespace {

std::atomic<bool> g_done(false);

void event(const std::string &line) {
  std::cout << line << std::endl;  // endl flushes: the test reads line by line
}

std::string field(const FIX::FieldMap &map, int tag) {
  return map.isSetField(tag) ? map.getField(tag) : std::string();
}

class Peer : public FIX::Application {
public:
  explicit Peer(bool initiator) : m_initiator(initiator), m_execId(0) {}

  void onCreate(const FIX::SessionID &) {}

  void onLogon(const FIX::SessionID &id) {
    event("LOGON " + id.toString());
    if (m_initiator) {
      FIX::Message order;
      order.getHeader().setField(35, "D");
      order.setField(11, "QF-ORDER-1");
      order.setField(21, "1");
      order.setField(55, "QFIX");
      order.setField(54, "1");
      order.setField(60, "20240102-03:04:05.000");
      order.setField(38, "100");
      order.setField(40, "2");
      order.setField(44, "12.5");
      FIX::Session::sendToTarget(order, id);
    }
  }

  void onLogout(const FIX::SessionID &) {
    event("LOGOUT");
    if (m_initiator) g_done = true;
  }

  void toAdmin(FIX::Message &, const FIX::SessionID &) {}
  void toApp(FIX::Message &, const FIX::SessionID &) throw(FIX::DoNotSend) {}

  void fromAdmin(const FIX::Message &message, const FIX::SessionID &) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) {
    const std::string type = field(message.getHeader(), 35);
    if (type == "3") event("REJECT " + field(message, 58));
  }

  void fromApp(const FIX::Message &message, const FIX::SessionID &id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) {
    const std::string type = field(message.getHeader(), 35);
    const std::string seq = field(message.getHeader(), 34);
    if (type == "D") {
      event("ORDER " + seq + " " + field(message, 11));
      FIX::Message report;
      report.getHeader().setField(35, "8");
      std::ostringstream execId;
      execId << "QF-EXEC-" << ++m_execId;
      report.setField(37, "QF-OID-1");
      report.setField(17, execId.str());
      if (id.getBeginString() == "FIX.4.2") report.setField(20, "0");
      report.setField(150, "0");
      report.setField(39, "0");
      report.setField(11, field(message, 11));
      report.setField(55, field(message, 55));
      report.setField(54, field(message, 54));
      report.setField(38, field(message, 38));
      report.setField(151, field(message, 38));
      report.setField(14, "0");
      report.setField(6, "0");
      FIX::Session::sendToTarget(report, id);
    } else if (type == "8") {
      event("EXEC " + seq + " " + field(message, 11) + " " + field(message, 39));
      if (m_initiator) {
        FIX::Session *session = FIX::Session::lookupSession(id);
        if (session) session->logout("done");
      }
    } else {
      event("APP " + type + " " + seq);
    }
  }

private:
  bool m_initiator;
  int m_execId;
};

// Runs the engine until the exchange is over: an initiator until its
// logout (or 30 s), an acceptor until its standard input closes.
template <typename Acceptor, typename Initiator>
int run(bool initiator, FIX::Application &app, FIX::SessionSettings &settings) {
  FIX::FileStoreFactory store(settings);
  FIX::FileLogFactory log(settings);
  if (initiator) {
    Initiator engine(app, store, settings, log);
    engine.start();
    for (int i = 0; i < 300 && !g_done; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    engine.stop();
    event(g_done ? "DONE" : "TIMEOUT");
    return g_done ? 0 : 1;
  }
  Acceptor engine(app, store, settings, log);
  engine.start();
  event("READY");
  std::string line;
  while (std::getline(std::cin, line) && line != "quit") {
  }
  engine.stop();
  event("DONE");
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  const char *usage =
      "usage: qf_peer acceptor|initiator BEGINSTRING PORT SENDER TARGET "
      "LOGDIR [noreset] [ssl] [cert=PEM] [key=PEM] [ca=PEM]";
  if (argc < 7) {
    std::cerr << usage << std::endl;
    return 2;
  }
  const std::string mode = argv[1];
  const bool initiator = mode == "initiator";
  bool reset = true;
  bool ssl = false;
  std::string cert, key, ca;
  for (int i = 7; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "noreset") {
      reset = false;
    } else if (arg == "ssl") {
      ssl = true;
    } else if (arg.rfind("cert=", 0) == 0) {
      cert = arg.substr(5);
    } else if (arg.rfind("key=", 0) == 0) {
      key = arg.substr(4);
    } else if (arg.rfind("ca=", 0) == 0) {
      ca = arg.substr(3);
    } else {
      std::cerr << "qf_peer: unknown option " << arg << "\n" << usage << std::endl;
      return 2;
    }
  }
  std::ostringstream cfg;
  cfg << "[DEFAULT]\n"
      << "ConnectionType=" << (initiator ? "initiator" : "acceptor") << "\n"
      << "StartTime=00:00:00\nEndTime=00:00:00\n"
      << "UseDataDictionary=N\n"
      << "ResetOnLogon=" << (reset ? "Y" : "N") << "\n"
      << "HeartBtInt=1\nReconnectInterval=1\n"
      << "LogoutTimeout=2\n"
      << "FileLogPath=" << argv[6] << "\n"
      << "FileStorePath=" << argv[6] << "\n";
  if (ssl) {
    // QuickFIX reads its SSL settings from [DEFAULT] only.
    if (initiator) {
      if (!cert.empty())
        cfg << "ClientCertificateFile=" << cert << "\n"
            << "ClientCertificateKeyFile=" << key << "\n";
    } else {
      cfg << "ServerCertificateFile=" << cert << "\n"
          << "ServerCertificateKeyFile=" << key << "\n";
      // 1: a client certificate is required (0 none, 2 optional).
      if (!ca.empty()) cfg << "CertificateVerifyLevel=1\n";
    }
    if (!ca.empty()) cfg << "CertificationAuthoritiesFile=" << ca << "\n";
  }
  cfg
      << (initiator ? "SocketConnectHost=127.0.0.1\nSocketConnectPort="
                    : "SocketAcceptPort=")
      << argv[3] << "\n"
      << "[SESSION]\n"
      << "BeginString=" << argv[2] << "\n"
      << "SenderCompID=" << argv[4] << "\n"
      << "TargetCompID=" << argv[5] << "\n";

  try {
    std::istringstream in(cfg.str());
    FIX::SessionSettings settings(in);
    Peer app(initiator);
    if (ssl)
      return run<FIX::SSLSocketAcceptor, FIX::SSLSocketInitiator>(initiator, app,
                                                                  settings);
    return run<FIX::SocketAcceptor, FIX::SocketInitiator>(initiator, app,
                                                          settings);
  } catch (std::exception &e) {
    std::cerr << "qf_peer: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
