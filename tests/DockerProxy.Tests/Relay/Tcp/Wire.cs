using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>Byte-level helpers for relay tests: complete sends, seeded streams with SHA-256, drains.</summary>
internal static class Wire
{
    internal const int ChunkSize = 64 * 1024;

    internal static IPEndPoint EndPointOf(Socket socket) => (IPEndPoint)socket.LocalEndPoint!;

    /// <summary>Sends every byte (bounded by <see cref="Peers.Patience"/>).</summary>
    internal static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        using var timeout = new CancellationTokenSource(Peers.Patience);
        await SendAllAsync(socket, data, timeout.Token);
    }

    internal static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
    }

    /// <summary>The bytes a seeded stream starts with (the same as <see cref="SendSeededAsync"/> sends).</summary>
    internal static byte[] Seeded(int seed, int count)
    {
        byte[] bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>
    /// Sends total bytes from a Random seeded with seed, then half-closes; returns the SHA-256 of what
    /// was sent. progress (if any) is told the running total after each chunk.
    /// </summary>
    internal static async Task<byte[]> SendSeededAsync(Socket socket, int seed, long total, CancellationToken cancellationToken, Action<long>? progress = null)
    {
        var random = new Random(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[ChunkSize];
        long sent = 0;
        while (sent < total)
        {
            int size = (int)Math.Min(chunk.Length, total - sent);
            random.NextBytes(chunk.AsSpan(0, size));
            hash.AppendData(chunk, 0, size);
            await SendAllAsync(socket, chunk.AsMemory(0, size), cancellationToken);
            sent += size;
            progress?.Invoke(sent);
        }

        socket.Shutdown(SocketShutdown.Send);
        return hash.GetHashAndReset();
    }

    /// <summary>Receives until EOF; returns the byte count and the SHA-256 of everything received.</summary>
    internal static async Task<(long Count, byte[] Hash)> ReceiveHashedAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[ChunkSize];
        long count = 0;
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                return (count, hash.GetHashAndReset());
            }

            hash.AppendData(buffer, 0, n);
            count += n;
        }
    }

    /// <summary>Reads and drops data until the stream ends: "eof" (FIN) or "reset".</summary>
    internal static async Task<string> DrainToEndAsync(Socket socket, TimeSpan timeout)
    {
        byte[] buffer = new byte[ChunkSize];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }

            return "eof";
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return "reset";
        }
    }

    /// <summary>Aborts a socket: SO_LINGER 0 then close sends a RST instead of a FIN.</summary>
    internal static void Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }
}
