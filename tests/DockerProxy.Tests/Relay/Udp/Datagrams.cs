using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// UDP peers for relay tests: sockets on loopback with buffers large enough for bursts and for the
/// largest datagrams, and receives that are always bounded in time.
/// </summary>
internal static class Datagrams
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>How long a test waits for a datagram that must not come.</summary>
    internal static readonly TimeSpan Silence = TimeSpan.FromSeconds(1);

    /// <summary>The largest UDP payload over IPv6 without jumbograms (65535 - 8).</summary>
    internal const int MaxIPv6Payload = 65527;

    /// <summary>The largest UDP payload over IPv4 (65535 - 20 - 8).</summary>
    internal const int MaxIPv4Payload = 65507;

    private const int BufferBytes = 4 * 1024 * 1024;
    private const int SolSocket = 1;
    private const int SoSndBufForce = 32;
    private const int SoRcvBufForce = 33;

    /// <summary>A UDP socket bound to address:port (v6-only for IPv6), with large buffers.</summary>
    internal static Socket Bind(IPAddress address, int port = 0)
    {
        Socket socket = New(address.AddressFamily);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A UDP socket connected to remote: it only accepts datagrams whose source is remote.</summary>
    internal static Socket Connect(IPEndPoint remote)
    {
        Socket socket = New(remote.AddressFamily);
        try
        {
            socket.Connect(remote);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A UDP port that was free on address a moment ago (bound and released).</summary>
    internal static int FreePort(IPAddress address)
    {
        using Socket socket = Bind(address);
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    internal static IPEndPoint LocalEndPoint(Socket socket) => (IPEndPoint)socket.LocalEndPoint!;

    internal static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    internal static string Text(byte[] payload) => Encoding.UTF8.GetString(payload);

    /// <summary>The next datagram on a (connected) socket, or null when none came within timeout.</summary>
    internal static async Task<byte[]?> TryReceiveAsync(Socket socket, TimeSpan? timeout = null)
    {
        byte[] buffer = new byte[65536];
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        try
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return buffer.AsSpan(0, n).ToArray();
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>The next datagram and its source, or null when none came within timeout.</summary>
    internal static async Task<ReceivedDatagram?> TryReceiveFromAsync(Socket socket, TimeSpan? timeout = null)
    {
        byte[] buffer = new byte[65536];
        EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        try
        {
            SocketReceiveFromResult result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cts.Token);
            return new ReceivedDatagram((IPEndPoint)result.RemoteEndPoint, buffer.AsSpan(0, result.ReceivedBytes).ToArray());
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Sends payload on a connected socket and returns the first datagram back (null: none came).</summary>
    internal static async Task<byte[]?> RoundTripAsync(Socket client, byte[] payload, TimeSpan? timeout = null)
    {
        int sent = await client.SendAsync(payload, SocketFlags.None).WaitAsync(Patience);
        sent.Should().Be(payload.Length);
        return await TryReceiveAsync(client, timeout);
    }

    /// <summary>Deterministic pseudo-random bytes.</summary>
    internal static byte[] Seeded(int length, int seed)
    {
        byte[] payload = new byte[length];
        new Random(seed).NextBytes(payload);
        return payload;
    }

    private static Socket New(AddressFamily family)
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (family == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            // Past net.core.rmem_max when privileged (SO_*BUFFORCE), else as far as it allows.
            if (!TryForce(socket, SoRcvBufForce))
            {
                socket.ReceiveBufferSize = BufferBytes;
            }

            if (!TryForce(socket, SoSndBufForce))
            {
                socket.SendBufferSize = BufferBytes;
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static bool TryForce(Socket socket, int option)
    {
        try
        {
            socket.SetRawSocketOption(SolSocket, option, BitConverter.GetBytes(BufferBytes));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
