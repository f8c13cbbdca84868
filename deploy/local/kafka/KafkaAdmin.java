// ACLs and SCRAM credentials through Kafka's Admin API, for kafka.sh in SASL mode. The broker
// jars from Maven lack kafka-acls.sh's classes (kafka-tools), so kafka.sh runs this file with
// Java's source launcher: java -cp 'lib/*' KafkaAdmin.java <command> <client.properties>
//
//   acls      read "principal resource-type pattern-type name operation" lines from stdin and
//             create one ALLOW binding (any host) for each; existing bindings are kept
//   list      print every ACL binding, one per line, in the same form
//   scram     read "name password" lines from stdin and set each user's SCRAM-SHA-512
//             credential (creates the user, or replaces its password)
//
// Secrets arrive on stdin, never as arguments.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaAdmin {
    private static final int SCRAM_ITERATIONS = 8192;

    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !List.of("acls", "list", "scram").contains(args[0])) {
            System.err.println("usage: KafkaAdmin {acls|list|scram} <client.properties>");
            System.exit(2);
        }
        Properties config = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of(args[1]))) {
            config.load(reader);
        }
        try (Admin admin = Admin.create(config)) {
            switch (args[0]) {
                case "acls" -> {
                    List<AclBinding> bindings = new ArrayList<>();
                    for (String[] f : stdinFields(5)) {
                        bindings.add(binding(f));
                    }
                    admin.createAcls(bindings).all().get();
                    System.err.println("KafkaAdmin: applied " + bindings.size() + " ACL bindings");
                }
                case "list" -> {
                    for (AclBinding b : admin.describeAcls(AclBindingFilter.ANY).values().get()) {
                        System.out.println(String.join(" ",
                                b.entry().principal(), b.pattern().resourceType().name(),
                                b.pattern().patternType().name(), b.pattern().name(),
                                b.entry().operation().name(), b.entry().permissionType().name()));
                    }
                }
                default -> {
                    List<UserScramCredentialAlteration> changes = new ArrayList<>();
                    for (String[] f : stdinFields(2)) {
                        changes.add(new UserScramCredentialUpsertion(f[0],
                                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
                                f[1]));
                    }
                    admin.alterUserScramCredentials(changes).all().get();
                    System.err.println("KafkaAdmin: set " + changes.size() + " SCRAM credentials");
                }
            }
        }
    }

    private static AclBinding binding(String[] f) {
        ResourceType type = ResourceType.fromString(f[1]);
        PatternType pattern = PatternType.fromString(f[2]);
        AclOperation operation = AclOperation.fromString(f[4]);
        if (type.isUnknown() || pattern.isUnknown() || operation == AclOperation.UNKNOWN
                || !f[0].startsWith("User:")) {
            throw new IllegalArgumentException("bad ACL line: " + String.join(" ", f));
        }
        return new AclBinding(new ResourcePattern(type, f[3], pattern),
                new AccessControlEntry(f[0], "*", operation, AclPermissionType.ALLOW));
    }

    private static List<String[]> stdinFields(int count) throws Exception {
        List<String[]> lines = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            line = line.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] fields = line.split("\\s+");
            if (fields.length != count) {
                throw new IllegalArgumentException("expected " + count + " fields per line");
            }
            lines.add(fields);
        }
        return lines;
    }
}
