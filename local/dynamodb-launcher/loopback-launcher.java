/*
 * The entry point local/dynamodb.ts runs instead of DynamoDB Local's own main class, so that DynamoDB
 * Local (which holds every local transcript) listens on one loopback address instead of every interface.
 *
 * Why a launcher: DynamoDB Local's command line has no host option. Its server object builds a Jetty
 * server from a port alone, whose connector then binds the wildcard address. This class builds that
 * server from the usual command line, sets the host on each of its connectors before starting it, and
 * checks after the start that every connector is bound where it was told. Any surprise (the jar's
 * internals changed) ends the JVM with exit code 3 and a message, never with a wildcard listener.
 *
 * Compiled with javac on first use by local/dynamodb.ts (cached by the hash of this file and the jar
 * release). Usage: java -cp <DynamoDB Local class path>:<compiled dir> LoopbackLauncher <host> <options…>
 */
import java.lang.reflect.Field;
import java.util.Arrays;
import org.eclipse.jetty.server.AbstractNetworkConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

final class LoopbackLauncher {
  private LoopbackLauncher() {}

  private static void fail(String message) {
    System.err.println("loopback launcher: " + message);
    System.exit(3);
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args[0].isEmpty()) {
      fail("usage: LoopbackLauncher <host> <DynamoDB Local options...>");
      return;
    }
    String host = args[0];
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(Arrays.copyOfRange(args, 1, args.length));
    // The Jetty server is a private field of DynamoDBProxyServer: the one place its connectors are reachable.
    Field field;
    try {
      field = DynamoDBProxyServer.class.getDeclaredField("server");
    } catch (NoSuchFieldException e) {
      fail("DynamoDBProxyServer has no 'server' field in this DynamoDB Local release; cannot bind " + host);
      return;
    }
    field.setAccessible(true);
    Object value = field.get(proxy);
    if (!(value instanceof Server)) {
      fail("DynamoDBProxyServer.server is not a Jetty Server in this DynamoDB Local release; cannot bind " + host);
      return;
    }
    Server jetty = (Server) value;
    Connector[] connectors = jetty.getConnectors();
    if (connectors.length == 0) fail("DynamoDB Local's Jetty server has no connector; cannot bind " + host);
    for (Connector connector : connectors) {
      if (!(connector instanceof AbstractNetworkConnector)) {
        fail("unexpected Jetty connector " + connector.getClass().getName() + "; cannot bind " + host);
      }
      ((AbstractNetworkConnector) connector).setHost(host);
    }
    proxy.start();
    if (!jetty.isStarted()) fail("DynamoDB Local did not start (see the message above)");
    for (Connector connector : connectors) {
      AbstractNetworkConnector network = (AbstractNetworkConnector) connector;
      if (!host.equals(network.getHost()) || network.getLocalPort() <= 0) {
        fail("a connector is not bound to " + host + " after start");
      }
      System.out.println("DynamoDB Local bound to " + host + ":" + network.getLocalPort());
    }
  }
}
