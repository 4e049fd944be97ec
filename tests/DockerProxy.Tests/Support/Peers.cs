using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Support;

/// <summary>Real loopback peers for relay tests: listeners on port 0, clients, bounded reads.</summary>
internal static class Peers
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>A listening TCP socket on address:0.</summary>
    internal static Socket Listen(IPAddress address, int backlog = 512)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.DualMode = false;
        }

        socket.Bind(new IPEndPoint(address, 0));
        socket.Listen(backlog);
        return socket;
    }

    /// <summary>A port that was free a moment ago (bound and released).</summary>
    internal static int FreePort(IPAddress address)
    {
        using Socket socket = Listen(address);
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>A UDP port that was free a moment ago (bound and released).</summary>
    internal static int FreeUdpPort(IPAddress address)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    internal static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).WaitAsync(Patience);
        return socket;
    }

    /// <summary>Accepts connections and echoes each until EOF, then closes it; runs until disposed.</summary>
    internal static EchoServer Echo(IPAddress address) => new(Listen(address));

    /// <summary>Reads until EOF; fails the test after the patience runs out.</summary>
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

    /// <summary>Reads exactly count bytes.</summary>
    internal static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, TimeSpan? timeout = null)
    {
        byte[] buffer = new byte[count];
        int read = 0;
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        while (read < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cts.Token);
            if (n == 0)
            {
                throw new EndOfStreamException($"EOF after {read} of {count} bytes");
            }

            read += n;
        }

        return buffer;
    }

    /// <summary>What a read sees next: data, a clean EOF (FIN), or a reset.</summary>
    internal static async Task<string> NextEventAsync(Socket socket, TimeSpan? timeout = null)
    {
        byte[] buffer = new byte[1024];
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        try
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return n == 0 ? "eof" : "data";
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return "reset";
        }
    }

    /// <summary>Whether something listens on endPoint (a connect succeeds).</summary>
    internal static async Task<bool> IsListeningAsync(IPEndPoint endPoint)
    {
        try
        {
            using Socket socket = await ConnectAsync(endPoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
