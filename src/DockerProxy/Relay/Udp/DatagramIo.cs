using System.Net.Sockets;
using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Relay.Udp;

/// <summary>
/// Non-blocking recv(2)/send(2) on a connected UDP socket, for the per-datagram path: one syscall
/// each, no allocation, no async state machine when the kernel can answer at once. The socket
/// engine is only asked to wait when these say EAGAIN.
/// </summary>
internal static unsafe class DatagramIo
{
    /// <summary>No datagram waiting (EAGAIN), or the send buffer is full.</summary>
    internal const int WouldBlock = -1;

    /// <summary>An error about an earlier datagram (ECONNREFUSED from ICMP): skip, go on.</summary>
    internal const int Transient = -2;

    /// <summary>The socket is closed: stop using it.</summary>
    internal const int Closed = -3;

    /// <summary>This datagram cannot be sent (EMSGSIZE, EHOSTUNREACH, EPERM from a firewall, ENOBUFS):
    /// it is dropped, the socket (and the session's source port) stays.</summary>
    internal const int Dropped = -4;

    /// <summary>Receives one datagram into buffer: its length, or one of the codes above.</summary>
    internal static int TryReceive(Socket socket, Span<byte> buffer)
    {
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            return Closed;
        }

        fixed (byte* data = buffer)
        {
            nint n = Libc.Recv(lease.Fd, data, buffer.Length, Libc.MsgDontWait);
            if (n >= 0)
            {
                return (int)n;
            }

            // An error here is an ICMP report about an earlier datagram (refused, unreachable):
            // nothing to relay, and no reason to give up the session.
            int errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                Libc.EAgain => WouldBlock,
                Libc.EBadF or Libc.ENotSock => Closed,
                _ => Transient,
            };
        }
    }

    /// <summary>Sends one datagram: 0, or one of the codes above, with the errno behind it.</summary>
    internal static int TrySend(Socket socket, ReadOnlySpan<byte> datagram, out int errno)
    {
        errno = 0;
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            errno = Libc.EBadF;
            return Closed;
        }

        fixed (byte* data = datagram)
        {
            if (Libc.Send(lease.Fd, data, datagram.Length, Libc.MsgDontWait) >= 0)
            {
                return 0;
            }
        }

        errno = Marshal.GetLastPInvokeError();
        return errno switch
        {
            Libc.EAgain => WouldBlock,
            Libc.EConnRefused or Libc.EIntr => Transient, // a stale ICMP report, or a signal: again
            Libc.EBadF or Libc.ENotSock => Closed,
            _ => Dropped,
        };
    }
}
