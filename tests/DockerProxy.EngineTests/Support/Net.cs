using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DockerProxy.EngineTests.Support;

/// <summary>Clients for the container's servers (build/engines/serve.py) and free host ports.
/// Every operation has a deadline; traffic goes to loopback or the engine's own bridge only.</summary>
internal static class Net
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static int _nextPort = 20000 + (Environment.ProcessId % 400 * 25);

    /// <summary>
    /// A port free for proto on 0.0.0.0 and :: (so also on 127.0.0.1 and ::1), below the ephemeral
    /// range (where the kernel and dockerd pick their own); each call gives another.
    /// </summary>
    internal static int FreePort(string proto = "tcp")
    {
        for (int attempt = 0; attempt < 2000; attempt++)
        {
            int port = 20000 + ((Interlocked.Increment(ref _nextPort) - 20000) % 12000);
            if (CanBind(proto, IPAddress.Any, port) && CanBind(proto, IPAddress.IPv6Any, port) &&
                CanBind(proto == "tcp" ? "udp" : "tcp", IPAddress.Any, port))
            {
                return port;
            }
        }

        throw new InvalidOperationException("no free port in 20000-31999");
    }

    /// <summary>Whether address:port can be bound for proto right now (then released).</summary>
    internal static bool CanBind(string proto, IPAddress address, int port)
    {
        using Socket socket = NewSocket(proto, address.AddressFamily);
        try
        {
            if (proto == "tcp")
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }

            socket.Bind(new IPEndPoint(address, port));
            if (proto == "tcp")
            {
                socket.Listen(1);
            }

            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A socket bound (TCP: listening) on address:port, to hold a port.</summary>
    internal static Socket Hold(string proto, IPAddress address, int port)
    {
        Socket socket = NewSocket(proto, address.AddressFamily);
        socket.Bind(new IPEndPoint(address, port));
        if (proto == "tcp")
        {
            socket.Listen(8);
        }

        return socket;
    }

    internal static Socket NewSocket(string proto, AddressFamily family)
    {
        Socket socket = proto == "tcp"
            ? new Socket(family, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        if (family == AddressFamily.InterNetworkV6)
        {
            socket.DualMode = false;
        }

        return socket;
    }

    internal static async Task<Socket> ConnectAsync(IPEndPoint endPoint, TimeSpan? timeout = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(timeout ?? Patience);
            await socket.ConnectAsync(endPoint, cts.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Waits until something accepts connections on endPoint (bounded).</summary>
    internal static async Task WaitListeningAsync(IPEndPoint endPoint, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using Socket socket = await ConnectAsync(endPoint, TimeSpan.FromSeconds(2));
                return;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"nothing listens on {endPoint} after {timeout.TotalSeconds} s", e);
                }

                await Task.Delay(50);
            }
        }
    }

    /// <summary>An HTTP/1.0 GET through endPoint; returns the status code and body.</summary>
    internal static async Task<(int Status, byte[] Body)> HttpGetAsync(IPEndPoint endPoint, string path)
    {
        using Socket socket = await ConnectAsync(endPoint);
        byte[] request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\nHost: test\r\nConnection: close\r\n\r\n");
        await socket.SendAsync(request, SocketFlags.None);
        byte[] response = await ReadToEndAsync(socket);
        int headerEnd = IndexOf(response, "\r\n\r\n"u8);
        if (headerEnd < 0)
        {
            throw new InvalidDataException($"no HTTP header in {response.Length} bytes from {endPoint}: {Encoding.ASCII.GetString(response)}");
        }

        string statusLine = Encoding.ASCII.GetString(response, 0, IndexOf(response, "\r\n"u8));
        int status = int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, response[(headerEnd + 4)..]);
    }

    /// <summary>
    /// Sends payload through a TCP echo, half-closes, and reads until EOF: the echo comes back
    /// whole and then EOF arrives (the backend's half-close, passed on by the proxy).
    /// </summary>
    internal static async Task<byte[]> EchoWithHalfCloseAsync(IPEndPoint endPoint, byte[] payload)
    {
        using Socket socket = await ConnectAsync(endPoint);
        Task<byte[]> reading = ReadToEndAsync(socket, TimeSpan.FromSeconds(60));
        int sent = 0;
        while (sent < payload.Length)
        {
            sent += await socket.SendAsync(payload.AsMemory(sent, Math.Min(256 * 1024, payload.Length - sent)), SocketFlags.None);
        }

        socket.Shutdown(SocketShutdown.Send);
        return await reading;
    }

    internal static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var stream = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (n == 0)
            {
                return stream.ToArray();
            }

            stream.Write(buffer, 0, n);
        }
    }

    /// <summary>
    /// One UDP client: sends each datagram and waits for its echo (a few tries each: UDP may drop),
    /// through a connected socket, so a reply from any other address would not count.
    /// </summary>
    internal static async Task<List<byte[]>> UdpExchangeAsync(IPEndPoint endPoint, IReadOnlyList<byte[]> datagrams)
    {
        using Socket socket = NewSocket("udp", endPoint.AddressFamily);
        await socket.ConnectAsync(endPoint);
        var replies = new List<byte[]>();
        byte[] buffer = new byte[65536];
        foreach (byte[] datagram in datagrams)
        {
            byte[]? reply = null;
            for (int attempt = 0; attempt < 5 && reply is null; attempt++)
            {
                await socket.SendAsync(datagram, SocketFlags.None);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                try
                {
                    while (true)
                    {
                        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                        // A late echo of an earlier try of the previous datagram is skipped.
                        if (buffer.AsSpan(0, n).SequenceEqual(datagram))
                        {
                            reply = buffer[..n];
                            break;
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    await Task.Delay(100); // ICMP port unreachable: nobody listened (yet)
                }
            }

            replies.Add(reply ?? throw new TimeoutException($"no echo from {endPoint} for a {datagram.Length}-byte datagram after 5 tries"));
        }

        return replies;
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);
}
