/*
 * ReadEncryptedKey: reads an encrypted PKCS#8 PEM key with the JDK's own classes
 * (javax.crypto.EncryptedPrivateKeyInfo and its PBES2 support), so a key encryption Java cannot
 * read fails the test that runs it.  Run as a single-file program (java File.java).
 *
 * Usage: java ReadEncryptedKey.java KEY.pem PASSWORD_FILE
 * Prints "ok <algorithm> <pbe parameters>" and exits 0, or prints the error and exits 1.
 */
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.EncryptedPrivateKeyInfo;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

public class ReadEncryptedKey {
    public static void main(String[] args) throws Exception {
        String pem = Files.readString(Path.of(args[0]), StandardCharsets.US_ASCII);
        String pass = Files.readString(Path.of(args[1]), StandardCharsets.UTF_8).strip();
        String b64 = pem.replace("-----BEGIN ENCRYPTED PRIVATE KEY-----", "")
                         .replace("-----END ENCRYPTED PRIVATE KEY-----", "")
                         .replaceAll("\\s", "");
        try {
            EncryptedPrivateKeyInfo info = new EncryptedPrivateKeyInfo(Base64.getDecoder().decode(b64));
            /* For PBES2 the JDK names the scheme by its parameters
             * ("PBEWithHmacSHA256AndAES_256"); getAlgName() says only "PBES2". */
            String scheme = info.getAlgParameters().toString();
            SecretKeyFactory skf = SecretKeyFactory.getInstance(scheme);
            Cipher cipher = Cipher.getInstance(scheme);
            cipher.init(Cipher.DECRYPT_MODE, skf.generateSecret(new PBEKeySpec(pass.toCharArray())),
                        info.getAlgParameters());
            PKCS8EncodedKeySpec spec = info.getKeySpec(cipher);
            PrivateKey key = null;
            for (String alg : new String[] {"EC", "RSA"}) {
                try {
                    key = KeyFactory.getInstance(alg).generatePrivate(spec);
                    break;
                } catch (java.security.spec.InvalidKeySpecException e) {
                    /* try the next algorithm */
                }
            }
            if (key == null) {
                throw new Exception("not an EC or RSA key");
            }
            System.out.println("ok " + key.getAlgorithm() + " " + scheme);
        } catch (Exception e) {
            System.out.println("error: " + e);
            System.exit(1);
        }
    }
}
