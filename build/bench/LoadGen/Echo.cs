using System.Runtime.InteropServices;

namespace LoadGen;

/// <summary>
/// The container stand-ins. Each prints its port on stdout, serves until its stdin reaches end of
/// file (the parent closes it, or exits), then exits.
/// </summary>
internal static unsafe class Echo
{
    private const int StackBytes = 256 * 1024;

    /// <summary>
    /// TCP echo: THREADS threads all block in accept() on one listener (the kernel wakes one per
    /// connection) and each serves its connection to the end with blocking recv/send, then closes
    /// it (a FIN after the client's) and accepts again. No thread is created per connection.
    /// </summary>
    public static int Tcp(int threads)
    {
        (int listener, int port) = Net.BindLoopback(Libc.SockStream, 4096);
        for (int i = 0; i < threads; i++)
        {
            new Thread(() => ServeTcp(listener), StackBytes) { IsBackground = true, Name = "tcp-echo" }.Start();
        }

        return Announce(port);
    }

    private static void ServeTcp(int listener)
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(256 * 1024, pinned: true);
        fixed (byte* start = buffer)
        {
            while (true)
            {
                int fd = Libc.Accept4(listener, null, null, Libc.SockCloExec);
                if (fd < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is Libc.EIntr or 103 /* ECONNABORTED */)
                    {
                        continue;
                    }

                    Console.Error.WriteLine($"tcp-echo: accept: {Libc.Describe(errno)}");
                    Thread.Sleep(10);
                    continue;
                }

                Net.SetInt(fd, Libc.IpProtoTcp, Libc.TcpNoDelay, 1);
                Net.SetTimeouts(fd, 30_000);
                try
                {
                    while (true)
                    {
                        nint n = Libc.Recv(fd, start, (nuint)buffer.Length, 0);
                        if (n <= 0)
                        {
                            if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EIntr)
                            {
                                continue;
                            }

                            break;
                        }

                        Net.SendAll(fd, buffer.AsSpan(0, (int)n));
                    }
                }
                catch (NetException)
                {
                    // The peer went away mid-echo: nothing to do but close.
                }

                _ = Libc.Close(fd);
            }
        }
    }

    /// <summary>UDP echo: one thread sends every datagram back to where it came from.</summary>
    public static int Udp()
    {
        (int fd, int port) = Net.BindLoopback(Libc.SockDgram, 0);
        Net.RaiseBuffers(fd, 8 << 20);
        new Thread(() => ServeUdp(fd), StackBytes) { IsBackground = true, Name = "udp-echo" }.Start();
        return Announce(port);
    }

    private static void ServeUdp(int fd)
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(65536, pinned: true);
        fixed (byte* start = buffer)
        {
            SockAddrIn peer;
            while (true)
            {
                int length = sizeof(SockAddrIn);
                nint n = Libc.RecvFrom(fd, start, (nuint)buffer.Length, 0, &peer, &length);
                if (n >= 0)
                {
                    _ = Libc.SendTo(fd, start, (nuint)n, Libc.MsgNoSignal, &peer, length);
                }
            }
        }
    }

    /// <summary>Prints PORT, then blocks until stdin ends.</summary>
    private static int Announce(int port)
    {
        Console.Out.WriteLine(port);
        Console.Out.Flush();
        byte* scratch = stackalloc byte[256];
        while (true)
        {
            nint n = Libc.Read(0, scratch, 256);
            if (n == 0 || (n < 0 && Marshal.GetLastPInvokeError() != Libc.EIntr))
            {
                return 0;
            }
        }
    }
}
