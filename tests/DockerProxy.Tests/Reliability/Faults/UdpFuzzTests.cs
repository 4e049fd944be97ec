using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// The published UDP relay against seeded random traffic (a failure repeats): 200 client sockets on
/// ephemeral ports, each sending bursts of 1 to 50 datagrams back to back, of random sizes from 0
/// to 65507 bytes, through the proxy to an echo. Every datagram of 16 bytes or more carries its
/// client id, sequence number, length and a checksum; shorter ones are derived from them. Every
/// reply must come back to the socket that sent it, from the address it was sent to, byte for
/// byte, and only once. UDP may drop datagrams under bursts (never one sent on its own): losses
/// are reported and must stay below 1% overall.
/// </summary>
[Trait("Category", "Process")]
public sealed class UdpFuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20261128;
    private const int Clients = 200;
    private const int MaxBursts = 3;
    private const int MaxBurst = 50;
    private const int Concurrency = 8;
    private const int HeaderBytes = 16;
    private const int MaxIPv4Payload = 65507;
    private const int BufferBytes = 4 * 1024 * 1024;
    private const int SolSocket = 1;
    private const int SoSndBufForce = 32;
    private const int SoRcvBufForce = 33;
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    // How long a client waits for the rest of a burst's replies after the last one came.
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);

    [SkippableFact]
    public async Task Seeded_random_bursts_from_200_clients_come_back_to_their_sender_intact_and_once()
    {
        string binary = Binaries.Path(Binaries.Ours);
        var random = new Random(Seed);
        byte[] pool = new byte[2 * 65536];
        random.NextBytes(pool);
        Client[] clients = [.. Enumerable.Range(0, Clients).Select(id => new Client(id, Plan(random, id), pool))];

        using var backend = new EchoPeer();
        var host = new IPEndPoint(Loopback, FreeUdpPort());
        await using SpawnedProcess proxy = SpawnedProcess.Start(binary, ProxyRun.EngineArgs("udp", host, backend.EndPoint));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");

        var clock = Stopwatch.StartNew();
        using var bound = new CancellationTokenSource(Bound);
        try
        {
            Task[] receivers = [.. clients.Select(client => client.ReceiveAsync(host, bound.Token))];
            using var gate = new SemaphoreSlim(Concurrency);
            await Task.WhenAll(clients.Select(async client =>
            {
                await gate.WaitAsync(bound.Token);
                try
                {
                    await client.SendBurstsAsync(host, bound.Token);
                }
                finally
                {
                    gate.Release();
                }
            })).WaitAsync(Bound);

            foreach (Client client in clients)
            {
                client.Dispose(); // ends its receive loop
            }

            await Task.WhenAll(receivers).WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            foreach (Client client in clients)
            {
                client.Dispose();
            }
        }

        clock.Stop();
        long sent = clients.Sum(c => c.Sent);
        long received = clients.Sum(c => c.Received);
        long lost = sent - received;
        long bytes = clients.Sum(c => c.SentBytes);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{sent} datagrams ({bytes / (1024.0 * 1024):F1} MiB) from {Clients} clients in {clock.Elapsed.TotalSeconds:F1} s: {received} echoed, {lost} lost ({100.0 * lost / sent:F3}%)"));
        foreach (IGrouping<string, (int Burst, int Lost)> bucket in clients.SelectMany(c => c.LostByBurst()).GroupBy(l => Bucket(l.Burst)).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  lost in bursts of {bucket.Key}: {bucket.Sum(l => l.Lost)}");
        }

        string[] problems = [.. clients.SelectMany(c => c.Problems)];
        foreach (string problem in problems.Take(50))
        {
            output.WriteLine(problem);
        }

        problems.Should().BeEmpty("every reply comes back to its sender, intact, once; {0} problems: {1}", problems.Length, string.Join("; ", problems.Take(10)));
        received.Should().BeGreaterThan(0);
        (lost * 100).Should().BeLessThan(sent, "losses stay below 1% overall ({0} of {1})", lost, sent);
        clients.SelectMany(c => c.LostByBurst()).Where(l => l.Burst == 1).Should().BeEmpty("a datagram sent on its own, not in a burst, is never lost");
        proxy.HasExited.Should().BeFalse();
    }

    private static string Bucket(int burst) => burst switch
    {
        1 => "01",
        <= 10 => "02-10",
        <= 30 => "11-30",
        _ => "31-50",
    };

    // Bursts of datagram sizes for one client. Edge sizes come up often: empty, shorter than a
    // header, exactly a header, one Ethernet MTU's payload, the largest IPv4 datagram.
    private static int[][] Plan(Random random, int id)
    {
        int[][] bursts = new int[random.Next(1, MaxBursts + 1)][];
        for (int b = 0; b < bursts.Length; b++)
        {
            bursts[b] = new int[random.Next(1, MaxBurst + 1)];
            for (int d = 0; d < bursts[b].Length; d++)
            {
                int kind = random.Next(100);
                bursts[b][d] = kind switch
                {
                    < 8 => random.Next(0, HeaderBytes),
                    < 10 => HeaderBytes,
                    < 12 => 1472,
                    < 17 => MaxIPv4Payload - random.Next(0, 3),
                    < 60 => random.Next(HeaderBytes, 1500),
                    _ => random.Next(1500, MaxIPv4Payload + 1),
                };
            }
        }

        // Make sure the extremes are there whatever the seed.
        if (id == 0)
        {
            bursts[0][0] = MaxIPv4Payload;
        }
        else if (id == 1)
        {
            bursts[0][0] = 0;
        }

        return bursts;
    }

    private static int FreeUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static Socket NewSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // Room for a whole burst of the largest datagrams (past rmem_max when privileged).
            Force(socket, SoRcvBufForce, () => socket.ReceiveBufferSize = BufferBytes);
            Force(socket, SoSndBufForce, () => socket.SendBufferSize = BufferBytes);
            socket.Bind(new IPEndPoint(Loopback, 0)); // an ephemeral source port of the kernel's choice
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void Force(Socket socket, int option, Action fallback)
    {
        try
        {
            socket.SetRawSocketOption(SolSocket, option, BitConverter.GetBytes(BufferBytes));
        }
        catch (SocketException)
        {
            fallback();
        }
    }

    /// <summary>One client socket: its plan, what it sent, what came back, and what was wrong.</summary>
    private sealed class Client : IDisposable
    {
        private readonly int _id;
        private readonly int[][] _plan;
        private readonly byte[] _pool;
        private readonly Socket _socket = NewSocket();
        private readonly object _gate = new();
        private readonly Dictionary<int, (int Size, int Burst)> _outstanding = [];
        private readonly HashSet<int> _echoed = [];
        private readonly Dictionary<string, List<int>> _outstandingShort = new(StringComparer.Ordinal);
        private readonly List<string> _problems = [];
        private long _sent;
        private long _received;
        private long _sentBytes;

        internal Client(int id, int[][] plan, byte[] pool)
        {
            _id = id;
            _plan = plan;
            _pool = pool;
        }

        internal long Sent => Interlocked.Read(ref _sent);

        internal long Received => Interlocked.Read(ref _received);

        internal long SentBytes => Interlocked.Read(ref _sentBytes);

        internal IReadOnlyList<string> Problems
        {
            get
            {
                lock (_gate)
                {
                    return [.. _problems.Take(20)];
                }
            }
        }

        internal IEnumerable<(int Burst, int Lost)> LostByBurst()
        {
            lock (_gate)
            {
                return [.. _outstanding.Values.Select(v => (v.Burst, 1)).Concat(_outstandingShort.Values.SelectMany(l => l.Select(b => (b, 1))))];
            }
        }

        internal async Task SendBurstsAsync(IPEndPoint host, CancellationToken cancellationToken)
        {
            byte[] datagram = new byte[MaxIPv4Payload];
            int seq = 0;
            foreach (int[] burst in _plan)
            {
                foreach (int size in burst)
                {
                    Fill(datagram.AsSpan(0, size), seq, size);
                    lock (_gate)
                    {
                        if (size < HeaderBytes)
                        {
                            string key = Convert.ToHexString(datagram, 0, size);
                            if (!_outstandingShort.TryGetValue(key, out List<int>? bursts))
                            {
                                _outstandingShort[key] = bursts = [];
                            }

                            bursts.Add(burst.Length);
                        }
                        else
                        {
                            _outstanding[seq] = (size, burst.Length);
                        }
                    }

                    // Counted before it leaves: a reply can come back before SendToAsync returns.
                    Interlocked.Increment(ref _sent);
                    Interlocked.Add(ref _sentBytes, size);
                    int n = await _socket.SendToAsync(datagram.AsMemory(0, size), SocketFlags.None, host, cancellationToken);
                    n.Should().Be(size);
                    seq++;
                }

                // Wait for the burst's replies: until all came, or none came for a while.
                long lastProgress = Environment.TickCount64;
                long lastReceived = Received;
                while (Received < Sent && Environment.TickCount64 - lastProgress < Quiet.TotalMilliseconds)
                {
                    await Task.Delay(5, cancellationToken);
                    if (Received != lastReceived)
                    {
                        lastReceived = Received;
                        lastProgress = Environment.TickCount64;
                    }
                }
            }
        }

        internal async Task ReceiveAsync(IPEndPoint host, CancellationToken cancellationToken)
        {
            byte[] buffer = new byte[65536];
            EndPoint any = new IPEndPoint(IPAddress.Any, 0);
            while (true)
            {
                SocketReceiveFromResult result;
                try
                {
                    result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken);
                }
                catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException { SocketErrorCode: SocketError.OperationAborted })
                {
                    return;
                }

                Check(buffer.AsSpan(0, result.ReceivedBytes), (IPEndPoint)result.RemoteEndPoint, host);
            }
        }

        public void Dispose() => _socket.Dispose();

        private void Check(ReadOnlySpan<byte> reply, IPEndPoint from, IPEndPoint host)
        {
            lock (_gate)
            {
                string? problem = Problem(reply, from, host);
                if (problem is null)
                {
                    Interlocked.Increment(ref _received);
                }
                else
                {
                    _problems.Add($"client {_id}: {problem}");
                }
            }
        }

        private string? Problem(ReadOnlySpan<byte> reply, IPEndPoint from, IPEndPoint host)
        {
            if (!from.Equals(host))
            {
                return $"a {reply.Length}-byte reply from {from}, not from {host}";
            }

            if (reply.Length < HeaderBytes)
            {
                // Short datagrams carry no header: each must match one sent and not yet echoed.
                string key = Convert.ToHexString(reply);
                if (!_outstandingShort.TryGetValue(key, out List<int>? bursts) || bursts.Count == 0)
                {
                    return $"a {reply.Length}-byte reply {key} that was never sent or came twice";
                }

                bursts.RemoveAt(0);
                return null;
            }

            int id = BinaryPrimitives.ReadInt32LittleEndian(reply);
            int seq = BinaryPrimitives.ReadInt32LittleEndian(reply[4..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(reply[8..]);
            uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(reply[12..]);
            if (id != _id)
            {
                return $"a reply meant for client {id} (seq {seq})";
            }

            if (length != reply.Length || checksum != Checksum(reply[HeaderBytes..]))
            {
                return $"seq {seq} corrupted: {reply.Length} bytes, header says {length}";
            }

            if (_echoed.Contains(seq))
            {
                return $"seq {seq} came twice";
            }

            if (!_outstanding.Remove(seq, out (int Size, int Burst) sent))
            {
                return $"seq {seq} was never sent";
            }

            if (sent.Size != reply.Length || !reply[HeaderBytes..].SequenceEqual(Body(seq, sent.Size)))
            {
                return $"seq {seq} differs from what was sent ({sent.Size} bytes)";
            }

            _echoed.Add(seq);
            return null;
        }

        // A datagram's bytes, all derived from (client, seq, size).
        private void Fill(Span<byte> datagram, int seq, int size)
        {
            if (size < HeaderBytes)
            {
                for (int i = 0; i < size; i++)
                {
                    datagram[i] = (byte)((_id * 131) + (seq * 31) + (i * 7) + size);
                }

                return;
            }

            Body(seq, size).CopyTo(datagram[HeaderBytes..]);
            BinaryPrimitives.WriteInt32LittleEndian(datagram, _id);
            BinaryPrimitives.WriteInt32LittleEndian(datagram[4..], seq);
            BinaryPrimitives.WriteInt32LittleEndian(datagram[8..], size);
            BinaryPrimitives.WriteUInt32LittleEndian(datagram[12..], Checksum(datagram[HeaderBytes..size]));
        }

        private ReadOnlySpan<byte> Body(int seq, int size)
        {
            int offset = (int)((((uint)_id * 7919u) + ((uint)seq * 104729u)) % 65536u);
            return _pool.AsSpan(offset, size - HeaderBytes);
        }

        private static uint Checksum(ReadOnlySpan<byte> body)
        {
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(body, hash);
            return BinaryPrimitives.ReadUInt32LittleEndian(hash);
        }
    }

    /// <summary>A UDP echo on its own thread (blocking), answering each datagram to its sender.</summary>
    private sealed class EchoPeer : IDisposable
    {
        private readonly Socket _socket = NewSocket();
        private readonly Thread _thread;

        internal EchoPeer()
        {
            EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
            _thread = new Thread(Run) { IsBackground = true, Name = "udp-echo" };
            _thread.Start();
        }

        internal IPEndPoint EndPoint { get; }

        public void Dispose()
        {
            _socket.Dispose();
            _thread.Join(TimeSpan.FromSeconds(5));
        }

        private void Run()
        {
            byte[] buffer = new byte[65536];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    int n = _socket.ReceiveFrom(buffer, ref from);
                    _ = _socket.SendTo(buffer, n, SocketFlags.None, from);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // closed
            }
        }
    }
}
