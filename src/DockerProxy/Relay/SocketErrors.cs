using System.Net.Sockets;

namespace DockerProxy.Relay;

/// <summary>Tiny predicates that classify the socket errors a relay expects, so loops treat them as values.</summary>
internal static class SocketErrors
{
    /// <summary>The listener itself was closed: the relay is stopping.</summary>
    internal static bool IsListenerClosed(SocketError error) => error is
        SocketError.OperationAborted or
        SocketError.Shutdown or
        SocketError.NotSocket or
        SocketError.Interrupted;

    /// <summary>
    /// How a peer ends a flow other than with a clean EOF: reset, broken pipe, timed out, aborted
    /// because our side closed. All end one direction the same way as EOF.
    /// </summary>
    internal static bool IsFlowEnd(SocketError error) => error is
        SocketError.ConnectionReset or
        SocketError.ConnectionAborted or
        SocketError.Shutdown or
        SocketError.OperationAborted or
        SocketError.TimedOut or
        SocketError.NetworkReset or
        SocketError.HostUnreachable or
        SocketError.NetworkUnreachable or
        SocketError.NotConnected;
}
