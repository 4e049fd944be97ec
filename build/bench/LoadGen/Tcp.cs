using System.Buffers.Binary;
using System.Diagnostics;

namespace LoadGen;

/// <summary>Closed-loop TCP clients: one dedicated thread per connection, blocking sockets.</summary>
internal static class Tcp
{
    /// <summary>Longest wait for any single reply or send; beyond it the connection counts as stalled.</summary>
    internal const int StallMs = 2000;

    /// <summary>
    /// Request/response: CONNECTIONS connections opened before the warm-up; on each, send SIZE
    /// bytes, receive the SIZE-byte echo, compare, repeat.
    /// </summary>
    public static int RequestResponse(int port, int connections, int size, double warmup, double seconds, int watchPid)
    {
        var window = new Window();
        var fds = new int[connections];
        try
        {
            for (int i = 0; i < connections; i++)
            {
                fds[i] = Net.ConnectTcp(port, StallMs);
            }
        }
        catch (NetException error)
        {
            new Report().Add("errors", 1).Add("first_error", error.Message).Write();
            return 1;
        }

        return Workers.Run(window, connections, warmup, seconds, watchPid, (index, result) =>
        {
            int fd = fds[index];
            byte[] request = Pattern(size, index);
            var reply = new byte[size];
            long sequence = 0;
            try
            {
                while (true)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(request, ++sequence);
                    long sent = Stopwatch.GetTimestamp();
                    Net.SendAll(fd, request);
                    Net.ReceiveExact(fd, reply);
                    long received = Stopwatch.GetTimestamp();
                    if (!reply.AsSpan().SequenceEqual(request))
                    {
                        result.WrongBytes++;
                        result.Fail($"connection {index}: the echo of request {sequence} differs from the request");
                        return;
                    }

                    int phase = window.Phase;
                    if (phase == Window.Measuring)
                    {
                        result.Record(Window.Nanoseconds(sent, received));
                    }
                    else if (phase == Window.Stopping)
                    {
                        return;
                    }
                }
            }
            catch (NetException error)
            {
                result.Fail($"connection {index}, request {sequence}: {error.Message}");
            }
            finally
            {
                _ = Libc.Close(fd);
            }
        });
    }

    /// <summary>
    /// Connect/request/response/close: each of CLIENTS threads opens a connection, sends SIZE
    /// bytes, receives the echo, compares, closes, and starts over.
    /// </summary>
    public static int ConnectRequestResponse(int port, int clients, int size, double warmup, double seconds, int watchPid)
    {
        var window = new Window();
        return Workers.Run(window, clients, warmup, seconds, watchPid, (index, result) =>
        {
            byte[] request = Pattern(size, index);
            var reply = new byte[size];
            long sequence = 0;
            while (window.Phase != Window.Stopping)
            {
                BinaryPrimitives.WriteInt64LittleEndian(request, ++sequence);
                long started = Stopwatch.GetTimestamp();
                int fd = -1;
                try
                {
                    fd = Net.ConnectTcp(port, StallMs);
                    Net.SendAll(fd, request);
                    Net.ReceiveExact(fd, reply);
                }
                catch (NetException error)
                {
                    result.Fail($"client {index}, connection {sequence}: {error.Message}");
                    if (fd >= 0)
                    {
                        _ = Libc.Close(fd);
                    }

                    Thread.Sleep(1); // no spinning on a refusing port
                    continue;
                }

                _ = Libc.Close(fd);
                long finished = Stopwatch.GetTimestamp();
                if (!reply.AsSpan().SequenceEqual(request))
                {
                    result.WrongBytes++;
                    result.Fail($"client {index}: the echo on connection {sequence} differs from the request");
                    return;
                }

                if (window.Phase == Window.Measuring)
                {
                    result.Record(Window.Nanoseconds(started, finished));
                }
            }
        });
    }

    /// <summary>
    /// Integrity: on each of CONNECTIONS connections, one thread sends BYTES bytes of a
    /// position-dependent pattern and then half-closes, while another receives the echo, compares
    /// every byte and expects end of stream right after the last one.
    /// </summary>
    public static int Verify(int port, int connections, long bytes)
    {
        byte[] pattern = new byte[PatternPeriod + ChunkBytes];
        new Random(12345).NextBytes(pattern.AsSpan(0, PatternPeriod));
        for (int i = PatternPeriod; i < pattern.Length; i++)
        {
            pattern[i] = pattern[i - PatternPeriod]; // periodic: pattern[i] == pattern[i % period]
        }
        var failures = new string?[connections];
        var threads = new List<Thread>();
        var fds = new List<int>();
        long started = Stopwatch.GetTimestamp();
        for (int c = 0; c < connections; c++)
        {
            int index = c;
            int fd;
            try
            {
                fd = Net.ConnectTcp(port, 10_000);
            }
            catch (NetException error)
            {
                failures[index] = $"connection {index}: {error.Message}";
                continue;
            }

            fds.Add(fd);

            var sender = new Thread(() =>
            {
                try
                {
                    for (long offset = 0; offset < bytes;)
                    {
                        int count = (int)Math.Min(ChunkBytes, bytes - offset);
                        Net.SendAll(fd, pattern.AsSpan((int)((offset + index) % PatternPeriod), count));
                        offset += count;
                    }

                    _ = Libc.Shutdown(fd, Libc.ShutWr);
                }
                catch (NetException error)
                {
                    failures[index] ??= $"connection {index}, sending: {error.Message}";
                }
            }, 256 * 1024) { IsBackground = true };
            var receiver = new Thread(() =>
            {
                var buffer = new byte[ChunkBytes];
                long offset = 0;
                try
                {
                    while (true)
                    {
                        int n = Net.ReceiveSome(fd, buffer);
                        if (n == 0)
                        {
                            break;
                        }

                        if (offset + n > bytes)
                        {
                            failures[index] = $"connection {index}: received more than the {bytes} bytes sent";
                            return;
                        }

                        if (!buffer.AsSpan(0, n).SequenceEqual(pattern.AsSpan((int)((offset + index) % PatternPeriod), n)))
                        {
                            var got = buffer.AsSpan(0, n);
                            int at = got.CommonPrefixLength(pattern.AsSpan((int)((offset + index) % PatternPeriod), n));
                            failures[index] = $"connection {index}: wrong byte at offset {offset + at}";
                            return;
                        }

                        offset += n;
                    }

                    if (offset != bytes)
                    {
                        failures[index] = $"connection {index}: end of stream after {offset} of {bytes} bytes";
                    }
                }
                catch (NetException error)
                {
                    failures[index] ??= $"connection {index}, receiving after {offset} bytes: {error.Message}";
                }
            }, 256 * 1024) { IsBackground = true };
            sender.Start();
            receiver.Start();
            threads.Add(sender);
            threads.Add(receiver);
        }

        bool stalled = false;
        foreach (Thread thread in threads)
        {
            stalled |= !thread.Join(TimeSpan.FromSeconds(60));
        }

        double elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (!stalled)
        {
            fds.ForEach(fd => Libc.Close(fd));
        }

        string? failure = failures.FirstOrDefault(f => f is not null) ?? (stalled ? "threads still blocked after 60 s" : null);
        new Report()
            .Add("bytes", (double)bytes * connections)
            .Add("seconds", elapsed)
            .Add("errors", failures.Count(f => f is not null) + (stalled ? 1 : 0))
            .Add("first_error", failure)
            .Write();
        return failure is null ? 0 : 1;
    }

    private const int PatternPeriod = 65521; // a prime, so chunk and pattern boundaries never line up
    private const int ChunkBytes = 65536;

    /// <summary>SIZE bytes that differ per connection (the first 8 are overwritten by a sequence number).</summary>
    internal static byte[] Pattern(int size, int index)
    {
        var bytes = new byte[Math.Max(size, 8)];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((i * 7) + (index * 13) + 1);
        }

        return bytes;
    }
}

/// <summary>Runs one body per dedicated thread for the length of a window, then summarises.</summary>
internal static class Workers
{
    public static int Run(Window window, int threads, double warmup, double seconds, int watchPid, Action<int, WorkerResult> body)
    {
        var results = new WorkerResult[threads];
        var workers = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            int index = i;
            results[i] = new WorkerResult();
            workers[i] = new Thread(() => body(index, results[index]), 256 * 1024) { IsBackground = true, Name = $"worker-{i}" };
        }

        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        window.Run(warmup, seconds, watchPid);
        bool stalled = false;
        long deadline = Environment.TickCount64 + 5000;
        foreach (Thread worker in workers)
        {
            stalled |= !worker.Join(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)));
        }

        return Report.Summarise(window, results, stalled);
    }
}
