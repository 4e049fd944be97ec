using System.Net;
using System.Net.Sockets;
using DockerProxy.Hosting;
using DockerProxy.Native;

namespace DockerProxy.Relay;

/// <summary>Binds the listening sockets a relay serves, with the original's socket options and Go's error wording.</summary>
internal static class ListenerBinder
{
    // listen(2) caps the backlog at net.core.somaxconn, which is what the original passes.
    private const int Backlog = 65535;

    /// <summary>
    /// A TCP listener as the original makes one (Go net.ListenTCP): SO_REUSEADDR so a re-spawned proxy
    /// binds while old connections sit in TIME_WAIT; IPv6 sockets v6-only so that the 0.0.0.0 and ::
    /// proxies dockerd starts for one port coexist.
    /// </summary>
    internal static Socket BindTcp(IPEndPoint endPoint)
    {
        string network = endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? "tcp6" : "tcp4";
        Socket? socket = null;
        string step = "socket";
        try
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp); // EMFILE, EAFNOSUPPORT
            // Raw SO_REUSEADDR: .NET's ReuseAddress option also sets SO_REUSEPORT on Linux, which
            // would let a second proxy bind the same port silently.
            socket.SetRawSocketOption(Libc.SolSocket, Libc.SoReuseAddr, BitConverter.GetBytes(1));
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            step = "bind";
            socket.Bind(endPoint);
            step = "listen";
            socket.Listen(Backlog);
            return socket;
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            // The newest original's wording: "failed to listen on A: listen tcp4 A: bind: address already in use".
            throw new StartupException($"failed to listen on {endPoint}: listen {network} {endPoint}: {step}: {Errno.Text(e)}", e);
        }
    }
}
