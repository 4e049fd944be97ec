using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace LoadGen;

/// <summary>A socket call failed; the message names the call and the errno text.</summary>
internal sealed class NetException : Exception
{
    public NetException(string message) : base(message)
    {
    }

    public NetException()
    {
    }

    public NetException(string message, Exception inner) : base(message, inner)
    {
    }

    public static NetException FromErrno(string call) => new($"{call}: {Libc.Describe(Marshal.GetLastPInvokeError())}");
}

/// <summary>Blocking IPv4 loopback sockets on raw file descriptors.</summary>
internal static unsafe class Net
{
    /// <summary>127.0.0.1 in network byte order.</summary>
    private static readonly uint s_loopback = BinaryPrimitives.ReverseEndianness(0x7F000001u);

    public static SockAddrIn Loopback(int port) => new()
    {
        Family = Libc.AfInet,
        Port = BinaryPrimitives.ReverseEndianness((ushort)port),
        Address = s_loopback,
    };

    public static int NewSocket(int type)
    {
        int fd = Libc.Socket(Libc.AfInet, type | Libc.SockCloExec, 0);
        return fd >= 0 ? fd : throw NetException.FromErrno("socket");
    }

    /// <summary>A socket bound to 127.0.0.1:0 (TCP: listening); returns it and the port the kernel chose.</summary>
    public static (int Fd, int Port) BindLoopback(int type, int backlog)
    {
        int fd = NewSocket(type);
        int one = 1;
        _ = Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoReuseAddr, &one, sizeof(int));
        SockAddrIn address = Loopback(0);
        if (Libc.Bind(fd, &address, sizeof(SockAddrIn)) != 0)
        {
            throw NetException.FromErrno("bind");
        }

        if (type == Libc.SockStream && Libc.Listen(fd, backlog) != 0)
        {
            throw NetException.FromErrno("listen");
        }

        int length = sizeof(SockAddrIn);
        if (Libc.GetSockName(fd, &address, &length) != 0)
        {
            throw NetException.FromErrno("getsockname");
        }

        return (fd, BinaryPrimitives.ReverseEndianness(address.Port));
    }

    /// <summary>Connects FD to 127.0.0.1:PORT (blocking; bounded by the send timeout for TCP).</summary>
    public static void Connect(int fd, int port)
    {
        SockAddrIn address = Loopback(port);
        while (Libc.Connect(fd, &address, sizeof(SockAddrIn)) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.EIntr)
            {
                throw new NetException($"connect to port {port}: {(errno == Libc.EInProgress ? "timed out" : Libc.Describe(errno))}");
            }
        }
    }

    public static void SetInt(int fd, int level, int name, int value)
    {
        _ = Libc.SetSockOpt(fd, level, name, &value, sizeof(int));
    }

    public static int GetInt(int fd, int level, int name)
    {
        int value = 0;
        int length = sizeof(int);
        _ = Libc.GetSockOpt(fd, level, name, &value, &length);
        return value;
    }

    /// <summary>Bounds every blocking receive and send (and connect) on FD.</summary>
    public static void SetTimeouts(int fd, int milliseconds)
    {
        var timeout = new TimeVal { Seconds = milliseconds / 1000, Microseconds = milliseconds % 1000 * 1000L };
        _ = Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoRcvTimeo, &timeout, sizeof(TimeVal));
        _ = Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoSndTimeo, &timeout, sizeof(TimeVal));
    }

    /// <summary>Asks for SIZE-byte kernel buffers, past net.core.*mem_max when permitted.</summary>
    public static void RaiseBuffers(int fd, int size)
    {
        if (Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoRcvBufForce, &size, sizeof(int)) != 0)
        {
            _ = Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoRcvBuf, &size, sizeof(int));
        }

        if (Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoSndBufForce, &size, sizeof(int)) != 0)
        {
            _ = Libc.SetSockOpt(fd, Libc.SolSocket, Libc.SoSndBuf, &size, sizeof(int));
        }
    }

    /// <summary>A blocking TCP connection to 127.0.0.1:PORT with TCP_NODELAY and bounded waits.</summary>
    public static int ConnectTcp(int port, int timeoutMs)
    {
        int fd = NewSocket(Libc.SockStream);
        try
        {
            SetInt(fd, Libc.IpProtoTcp, Libc.TcpNoDelay, 1);
            SetTimeouts(fd, timeoutMs);
            Connect(fd, port);
            return fd;
        }
        catch
        {
            _ = Libc.Close(fd);
            throw;
        }
    }

    /// <summary>Sends all of DATA; throws on error or timeout.</summary>
    public static void SendAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            int sent = 0;
            while (sent < data.Length)
            {
                nint n = Libc.Send(fd, start + sent, (nuint)(data.Length - sent), Libc.MsgNoSignal);
                if (n > 0)
                {
                    sent += (int)n;
                    continue;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EIntr)
                {
                    continue;
                }

                throw new NetException(errno == Libc.EAgain ? "send: stalled (timed out)" : $"send: {Libc.Describe(errno)}");
            }
        }
    }

    /// <summary>Receives exactly BUFFER.Length bytes; throws on error, timeout or end of stream.</summary>
    public static void ReceiveExact(int fd, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            int received = 0;
            while (received < buffer.Length)
            {
                nint n = Libc.Recv(fd, start + received, (nuint)(buffer.Length - received), 0);
                if (n > 0)
                {
                    received += (int)n;
                    continue;
                }

                if (n == 0)
                {
                    throw new NetException($"recv: end of stream after {received} of {buffer.Length} bytes");
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EIntr)
                {
                    continue;
                }

                throw new NetException(errno == Libc.EAgain ? $"recv: stalled (no reply, {received} of {buffer.Length} bytes)" : $"recv: {Libc.Describe(errno)}");
            }
        }
    }

    /// <summary>One receive: the byte count, 0 at end of stream; throws on error or timeout.</summary>
    public static int ReceiveSome(int fd, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                nint n = Libc.Recv(fd, start, (nuint)buffer.Length, 0);
                if (n >= 0)
                {
                    return (int)n;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.EIntr)
                {
                    throw new NetException(errno == Libc.EAgain ? "recv: stalled (timed out)" : $"recv: {Libc.Describe(errno)}");
                }
            }
        }
    }
}
