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

    /// <summary>The socket is closed or broken: stop using it.</summary>
    internal const int Closed = -3;

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
            return n >= 0 ? (int)n : Classify(Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Sends one datagram: 0, or one of the codes above.</summary>
    internal static int TrySend(Socket socket, ReadOnlySpan<byte> datagram)
    {
        using var lease = new FdLease(socket);
        if (lease.Fd < 0)
        {
            return Closed;
        }

        fixed (byte* data = datagram)
        {
            nint n = Libc.Send(lease.Fd, data, datagram.Length, Libc.MsgDontWait);
            return n >= 0 ? 0 : Classify(Marshal.GetLastPInvokeError());
        }
    }

    private static int Classify(int errno) => errno switch
    {
        Libc.EAgain => WouldBlock,
        Libc.EConnRefused or Libc.EIntr => Transient,
        _ => Closed,
    };
}
