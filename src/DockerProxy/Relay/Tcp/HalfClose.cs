using System.Net.Sockets;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// How a direction ends (moby cmd/docker-proxy/tcp_proxy_linux.go): the destination is half-closed
/// (it sees the source's end as a FIN) and, when the destination failed first, reading from the
/// source stops too (which also wakes a receive waiting for data). The other direction goes on.
/// </summary>
internal static class HalfClose
{
    internal static void End(Socket source, Socket destination, bool destinationFailed)
    {
        Shutdown(destination, SocketShutdown.Send);
        if (destinationFailed)
        {
            Shutdown(source, SocketShutdown.Receive);
        }
    }

    private static void Shutdown(Socket socket, SocketShutdown how)
    {
        try
        {
            socket.Shutdown(how);
        }
        catch (SocketException)
        {
            // Already reset or not connected: nothing left to tell the peer.
        }
        catch (ObjectDisposedException)
        {
            // Aborted meanwhile.
        }
    }
}
