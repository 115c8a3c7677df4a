package atlas;

import java.io.IOException;
import java.net.BindException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs the embedded Neo4j Community engine with its Bolt connector until SIGTERM/SIGINT.
 *
 * <p>Usage: {@code java -cp 'lib/*:plugins/*' atlas.Launch --home DIR --plugins DIR [--host H] [--port P]
 * [--pagecache 512m] [--tx-max 512m]}. Data lives in DIR/data, Neo4j's debug log in DIR/logs. Writes
 * DIR/neo4j.pid while running and prints one line starting with {@code READY} once the default
 * database answers a query. An optional DIR/conf/neo4j.conf is loaded last (its settings win).
 *
 * <p>Auth is off: the connector binds to the loopback address given by --host only. The plugins dir is
 * also on the JVM classpath (as in Neo4j's own server launcher) so APOC's extensions load.
 */
public final class Launch {
  private Launch() {}

  public static void main(String[] args) {
    Map<String, String> opts;
    try {
      opts = parse(args);
    } catch (IllegalArgumentException e) {
      fail(64, e.getMessage());
      return;
    }
    Path home = Path.of(opts.get("home")).toAbsolutePath();
    Path plugins = Path.of(opts.get("plugins")).toAbsolutePath();
    String host = opts.getOrDefault("host", "127.0.0.1");
    int port = Integer.parseInt(opts.getOrDefault("port", "7687"));
    long pagecache = ByteUnit.parse(opts.getOrDefault("pagecache", "512m"));
    long txMax = ByteUnit.parse(opts.getOrDefault("tx-max", "512m"));
    Path pidFile = home.resolve("neo4j.pid");
    long started = System.nanoTime();
    long pid = ProcessHandle.current().pid();

    log("starting Neo4j 5.26 embedded: pid " + pid + ", home " + home + ", bolt " + host + ":" + port
        + ", heap max " + (Runtime.getRuntime().maxMemory() >> 20) + " MiB, pagecache " + (pagecache >> 20)
        + " MiB, tx max " + (txMax >> 20) + " MiB");
    try {
      Files.createDirectories(home);
      writeAtomically(pidFile, pid + "\n");
    } catch (IOException e) {
      fail(1, "cannot write " + pidFile + ": " + e.getMessage());
      return;
    }

    DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home)
        .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
        .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
        .setConfig(GraphDatabaseSettings.auth_enabled, false)
        .setConfig(GraphDatabaseSettings.pagecache_memory, pagecache)
        .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size, txMax)
        .setConfig(GraphDatabaseSettings.plugin_dir, plugins)
        .setConfig(GraphDatabaseSettings.procedure_unrestricted, List.of("apoc.*"))
        // Without this every tx log file is preallocated to its full rotation size (~256 MB).
        .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
        .setConfig(GraphDatabaseSettings.udc_enabled, false)
        // Bolt's netty event loops otherwise wait a 5 s quiet period twice on shutdown.
        .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
        .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(2));
    Path conf = home.resolve("conf").resolve("neo4j.conf");
    if (Files.isRegularFile(conf)) {
      log("loading " + conf);
      builder.loadPropertiesFromFile(conf);
    }

    DatabaseManagementService dbms;
    try {
      dbms = builder.build();
    } catch (RuntimeException e) {
      deleteQuietly(pidFile);
      if (hasCause(e, BindException.class)) fail(2, "port " + host + ":" + port + " is already in use");
      e.printStackTrace(System.out);
      fail(1, "Neo4j failed to start: " + e);
      return;
    }

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log("stopping (signal received)");
      try {
        dbms.shutdown();
      } catch (RuntimeException e) {
        log("error during shutdown: " + e);
      }
      deleteQuietly(pidFile);
      log("stopped");
      stopped.countDown();
    }, "atlas-neo4j-shutdown"));

    try {
      String dbName = dbms.listDatabases().contains("neo4j") ? "neo4j" : GraphDatabaseSettings.DEFAULT_DATABASE_NAME;
      dbms.database(dbName).executeTransactionally("RETURN 1");
    } catch (RuntimeException e) {
      log("default database does not answer: " + e);
    }
    long ms = (System.nanoTime() - started) / 1_000_000;
    log("READY bolt://" + host + ":" + port + " in " + ms + " ms");

    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> out = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("bad argument: " + a);
      out.put(a.substring(2), args[++i]);
    }
    for (String required : List.of("home", "plugins")) {
      if (!out.containsKey(required)) throw new IllegalArgumentException("missing --" + required);
    }
    return out;
  }

  private static void writeAtomically(Path file, String text) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text, StandardCharsets.UTF_8);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static void deleteQuietly(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException ignored) {
      // best effort: a stale pid file is detected by the Node side (dead pid)
    }
  }

  private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (type.isInstance(c)) return true;
    }
    return false;
  }

  private static void log(String msg) {
    System.out.println(Instant.now() + " atlas-neo4j: " + msg);
    System.out.flush();
  }

  private static void fail(int code, String msg) {
    log("error: " + msg);
    System.exit(code);
  }
}
