using System.Globalization;
using LoadGen;

// The benchmark's load generator and echo backends (build/bench/run.sh). Plain blocking sockets
// on dedicated threads, timed with Stopwatch, so that the generator costs as little CPU as it can.
//
//   loadgen tcp-echo [--threads 64]       print the port, echo TCP until stdin ends
//   loadgen udp-echo                      print the port, echo UDP until stdin ends
//   loadgen tcp-rr   --port P [--conns 1] [--size 64] [--warmup 0.5] [--seconds 3] [--pid PID]
//   loadgen tcp-crr  --port P [--conns 1] [--size 64] [--warmup 0.5] [--seconds 3] [--pid PID]
//   loadgen udp-rr   --port P [--clients 1] [--threads N] [--size 64] [--warmup 0.5] [--seconds 3] [--pid PID]
//   loadgen tcp-verify --port P [--conns 4] [--bytes 16777216]
//
// Clients print one JSON line (rate over the timed window, p50/p99 round trip in µs, lost,
// stale and wrong replies, the first error, the CPU seconds PID used in the window) and exit 0,
// or 1 when anything failed. Every wait is bounded.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: loadgen tcp-echo|udp-echo|tcp-rr|tcp-crr|udp-rr|tcp-verify [--option value ...]");
    return 2;
}

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 1; i < args.Length; i++)
{
    if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"loadgen: expected --option value, got {args[i]}");
        return 2;
    }

    options[args[i][2..]] = args[++i];
}

int Int(string name, int fallback) => options.TryGetValue(name, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
double Real(string name, double fallback) => options.TryGetValue(name, out string? v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

try
{
    int port = Int("port", 0);
    int size = Int("size", 64);
    double warmup = Real("warmup", 0.5);
    double seconds = Real("seconds", 3);
    int pid = Int("pid", 0);
    return args[0] switch
    {
        "tcp-echo" => Echo.Tcp(Int("threads", 64)),
        "udp-echo" => Echo.Udp(),
        "tcp-rr" => Tcp.RequestResponse(port, Int("conns", 1), size, warmup, seconds, pid),
        "tcp-crr" => Tcp.ConnectRequestResponse(port, Int("conns", 1), size, warmup, seconds, pid),
        "udp-rr" => Udp.RequestResponse(port, Int("clients", 1), Int("threads", Int("clients", 1)), size, warmup, seconds, pid),
        "tcp-verify" => Tcp.Verify(port, Int("conns", 4), long.Parse(options.GetValueOrDefault("bytes", "16777216"), CultureInfo.InvariantCulture)),
        _ => Usage(args[0]),
    };
}
catch (Exception error) when (error is NetException or FormatException or OverflowException)
{
    new Report().Add("errors", 1).Add("first_error", error.Message).Write();
    return 1;
}

static int Usage(string command)
{
    Console.Error.WriteLine($"loadgen: unknown command {command}");
    return 2;
}
