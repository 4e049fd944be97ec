using System.Text;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability;

/// <summary>
/// The published binary against thousands of generated argument vectors (seeded, so a failure
/// repeats): only the documented outcomes, never a crash or a stack trace, nothing on fd 3 after a
/// flag error. Addresses are loopback or nonsense, so nothing leaves this machine.
/// </summary>
[Trait("Category", "Process")]
public sealed class CliFuzzTests
{
    private const int Cases = 2000;
    private const int Parallel = 8;

    private static readonly string[] Flags =
    [
        "proto", "host-ip", "host-port", "container-ip", "container-port", "use-listen-fd", "v", "version",
        "log-level", "log-format", "udp-timeout", "udp-max-sessions", "copy-mode", "connect-timeout",
        "idle-timeout", "max-connections", "user", "h", "help", "bogus", "-", "=", "",
    ];

    private static readonly string[] Values =
    [
        "tcp", "udp", "sctp", "TCP", "icmp", "", "127.0.0.1", "::1", "127.1", "[::1]", "0.0.0.0", "::", "::ffff:127.0.0.1",
        "999.1.1.1", "fe80::1%lo", "0", "1", "-1", "65535", "65536", "0x50", "0o17", "1_000", "08", "99999999999999999999",
        "true", "false", "T", "maybe", "debug", "info", "loud", "json", "xml", "5s", "0s", "-5s", "1h30m", "soon",
        "splice", "pipelines", "nobody", "no-such-user", "--", "-", "é", "\t", "a b", new string('9', 300),
    ];

    [SkippableFact]
    public async Task Generated_argument_vectors_give_only_documented_outcomes()
    {
        string binary = Binaries.Path(Binaries.Ours);
        var random = new Random(20261128);
        var cases = new List<string[]>(Cases);
        for (int i = 0; i < Cases; i++)
        {
            cases.Add(Generate(random));
        }

        var failures = new List<string>();
        for (int start = 0; start < cases.Count; start += Parallel)
        {
            IEnumerable<Task<string?>> batch = cases.Skip(start).Take(Parallel).Select(args => RunOneAsync(binary, args));
            foreach (string? failure in await Task.WhenAll(batch))
            {
                if (failure is not null)
                {
                    failures.Add(failure);
                }
            }
        }

        failures.Should().BeEmpty();
    }

    private static async Task<string?> RunOneAsync(string binary, string[] args)
    {
        string shown = string.Join(" ", args.Select(a => $"'{a}'"));
        await using SpawnedProcess proxy = SpawnedProcess.Start(binary, args, new SpawnOptions { CaptureStdout = true });
        byte[] status = await proxy.ReadStatusAsync(TimeSpan.FromSeconds(20));
        string text = Encoding.UTF8.GetString(status);
        if (text == "0\n")
        {
            proxy.Signal(Posix.SigInt); // it runs: a valid command line
        }

        int exit = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(20));
        string stderr = await proxy.StderrAsync();
        string? problem = (exit, text) switch
        {
            (0, "" or "0\n") => null,
            (1, _) when text.StartsWith("1\n", StringComparison.Ordinal) && text.Length > 2 => null,
            (2, "") when stderr.Length > 0 => null,
            _ => $"exit {exit}, fd 3 {text.Replace("\n", "\\n", StringComparison.Ordinal)}",
        };
        if (problem is null && (stderr.Contains("   at ", StringComparison.Ordinal) || stderr.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase)))
        {
            problem = "a stack trace on stderr";
        }

        return problem is null ? null : $"{shown}: {problem}";
    }

    private static string[] Generate(Random random)
    {
        var args = new List<string>();
        int count = random.Next(0, 9);
        for (int i = 0; i < count; i++)
        {
            switch (random.Next(10))
            {
                case 0:
                    args.Add(Values[random.Next(Values.Length)]); // a non-flag: parsing stops here
                    break;
                case 1:
                    args.Add("--");
                    break;
                default:
                    string flag = Flags[random.Next(Flags.Length)];
                    string dashes = random.Next(2) == 0 ? "-" : "--";
                    if (random.Next(3) == 0)
                    {
                        args.Add($"{dashes}{flag}={Values[random.Next(Values.Length)]}");
                    }
                    else
                    {
                        args.Add(dashes + flag);
                        if (random.Next(4) != 0)
                        {
                            args.Add(Values[random.Next(Values.Length)]);
                        }
                    }

                    break;
            }
        }

        // Half the time, start from a valid engine command line so that deeper paths run too.
        if (random.Next(2) == 0)
        {
            args.InsertRange(0, ["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "0", "-container-ip", "127.0.0.1", "-container-port", "9"]);
        }

        return [.. args];
    }
}
