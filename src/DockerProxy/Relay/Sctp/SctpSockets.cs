using System.Net;
using System.Net.Sockets;
using DockerProxy.Hosting;
using DockerProxy.Native;

namespace DockerProxy.Relay.Sctp;

/// <summary>Making, configuring and ending the SCTP sockets of the relay.</summary>
internal static class SctpSockets
{
    // The original's listener asks for the most outbound streams SCTP allows (ishidawataru/sctp
    // ListenSCTP: SCTP_MAX_STREAM): the client's own inbound limit then decides, so a backend can
    // answer on any stream id the client accepts.
    private const ushort ListenerOutboundStreams = 65535;

    // listen(2) caps the backlog at net.core.somaxconn.
    private const int Backlog = 65535;

    /// <summary>
    /// The SCTP listener, failing as the newest original does: "failed to listen on A: protocol not
    /// supported" on a kernel without SCTP, the bare errno text for a failed bind or listen.
    /// </summary>
    internal static Socket Listen(IPEndPoint endPoint)
    {
        Socket? socket = SctpNative.Create(endPoint.AddressFamily, out int errno);
        if (socket is null)
        {
            throw new StartupException($"failed to listen on {endPoint}: {Errno.Text(errno)}");
        }

        try
        {
            // As the TCP listener: re-bindable at once after a stop; IPv6 v6-only so that the
            // 0.0.0.0 and :: proxies of one port coexist.
            _ = SctpNative.SetIntOption(socket, Libc.SolSocket, Libc.SoReuseAddr, 1);
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                _ = SctpNative.SetIntOption(socket, Libc.IpProtoIpv6, SctpNative.Ipv6V6Only, 1);
            }

            _ = SctpNative.SetInitMsg(socket, ListenerOutboundStreams, 0);
            _ = SctpNative.EnableReceiveInfo(socket);
            socket.Bind(endPoint);
            socket.Listen(Backlog);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new StartupException($"failed to listen on {endPoint}: {Errno.Text(e)}", e);
        }
    }

    /// <summary>
    /// An SCTP listener passed on fd 4 (no engine does so yet): served as it is if it is a listening
    /// one-to-one socket, the only style this relay serves; it gets the listener's stream count and
    /// receive information for the associations it accepts from now on.
    /// </summary>
    internal static Socket Adopt(Socket inherited)
    {
        using (var lease = new FdLease(inherited))
        {
            if (Libc.GetIntOption(lease.Fd, Libc.SolSocket, Libc.SoType) != Libc.SockStream ||
                Libc.GetIntOption(lease.Fd, Libc.SolSocket, Libc.SoAcceptConn) != 1)
            {
                inherited.Dispose();
                throw new StartupException($"-use-listen-fd: the SCTP socket on fd {InheritedListener.Fd} is not a listening one-to-one (SOCK_STREAM) socket");
            }
        }

        _ = SctpNative.SetInitMsg(inherited, ListenerOutboundStreams, 0);
        _ = SctpNative.EnableReceiveInfo(inherited);
        return inherited;
    }

    /// <summary>An unconnected SCTP socket for a backend association with this many outbound streams.</summary>
    internal static Socket Open(AddressFamily family, ushort outboundStreams)
    {
        Socket socket = SctpNative.Create(family, out int errno)
            ?? throw new SocketException((int)(errno switch
            {
                24 or 23 => SocketError.TooManyOpenSockets,
                105 or 12 => SocketError.NoBufferSpaceAvailable,
                93 => SocketError.ProtocolNotSupported,
                _ => SocketError.SocketError,
            }));
        if (outboundStreams > 0)
        {
            _ = SctpNative.SetInitMsg(socket, outboundStreams, 0);
        }

        _ = SctpNative.EnableReceiveInfo(socket);
        return socket;
    }

    /// <summary>
    /// Every message's stream id, PPID and flags on receive; no Nagle-like bundling delay (the relay
    /// forwards what it got at once, as TCP_NODELAY on the TCP relay).
    /// </summary>
    internal static void ConfigureAssociation(Socket association)
    {
        _ = SctpNative.EnableReceiveInfo(association);
        _ = SctpNative.SetIntOption(association, SctpNative.SolSctp, SctpNative.SctpNoDelay, 1);
    }

    /// <summary>SHUTDOWN after what is queued has been delivered (SCTP's graceful end).</summary>
    internal static void ShutdownSend(Socket association)
    {
        try
        {
            association.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already ended or closed.
        }
    }

    /// <summary>
    /// Ends a client association whose backend could not be reached: a graceful SHUTDOWN, and what
    /// the client already sent is dropped so that closing does not turn into an ABORT.
    /// </summary>
    internal static void EndGracefully(Socket association)
    {
        ShutdownSend(association);
        Span<byte> discard = stackalloc byte[2048];
        for (int i = 0; i < 64; i++)
        {
            if (SctpNative.Receive(association, discard, out _, out _, out _) <= 0)
            {
                break;
            }
        }
    }
}
